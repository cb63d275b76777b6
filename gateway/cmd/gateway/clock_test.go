package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseClock(t *testing.T) {
	t.Parallel()
	anchor := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		flag    string
		real    time.Time
		want    string
		wantErr string
	}{
		{"anchor=2026-11-28T08:00:00Z,start=2026-01-15T00:00:00+08:00,rate=360", anchor.Add(10 * time.Second), "2026-01-15T01:00:00+08:00", ""},
		{"anchor=2026-11-28T08:00:00Z, start=2026-01-15T00:00:00+08:00, rate=1", anchor.Add(-time.Minute), "2026-01-14T23:59:00+08:00", ""},
		// catch_up: accelerated from a start in the past until real time, then real time.
		{"anchor=2026-11-28T08:00:00Z,start=2026-11-28T06:00:00Z,rate=721,catch_up=true", anchor.Add(5 * time.Second), "2026-11-28T07:00:05Z", ""},
		{"anchor=2026-11-28T08:00:00Z,start=2026-11-28T06:00:00Z,rate=721,catch_up=true", anchor.Add(time.Minute), "2026-11-28T08:01:00Z", ""},
		{"anchor=2026-11-28T08:00:00Z,start=2026-11-28T06:00:00Z,rate=721", anchor.Add(time.Minute), "2026-11-28T18:01:00Z", ""},
		{"anchor=2026-11-28T08:00:00Z,start=2026-11-28T06:00:00Z,rate=2,catch_up=maybe", anchor, "", "invalid syntax"},
		{"anchor=2026-11-28T08:00:00Z,start=2026-01-15T00:00:00+08:00", anchor, "", "all required"},
		{"anchor=2026-11-28T08:00:00Z,start=2026-01-15T00:00:00+08:00,rate=-2", anchor, "", "outside"},
		{"anchor=yesterday,start=2026-01-15T00:00:00+08:00,rate=2", anchor, "", "cannot parse"},
		{"anchor=2026-11-28T08:00:00Z,begin=2026-01-15T00:00:00+08:00,rate=2", anchor, "", "unknown key \"begin\""},
	}
	for _, tc := range tests {
		stamp, err := parseClock(tc.flag)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.flag, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.flag, err)
		}
		if got := stamp(tc.real).Format(time.RFC3339); got != tc.want {
			t.Errorf("%s: stamp = %s, want %s", tc.flag, got, tc.want)
		}
	}
	if stamp, err := parseClock(""); stamp != nil || err != nil {
		t.Errorf("empty -clock: stamp set %v, error %v; want the identity (nil)", stamp != nil, err)
	}
}
