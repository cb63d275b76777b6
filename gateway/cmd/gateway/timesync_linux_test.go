package main

import (
	"testing"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

func TestSyncState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		state  int
		status int64
		want   string
	}{
		{"ok", 0, 0x2001, telemetry.ClockSynchronised}, // TIME_OK, STA_PLL|STA_NANO
		{"time error", timeError, 0, telemetry.ClockUnsynchronised},
		{"unsync flag", 0, staUnsync, telemetry.ClockUnsynchronised},
		{"both", timeError, staUnsync | 1, telemetry.ClockUnsynchronised},
	}
	for _, tc := range tests {
		if got := syncState(tc.state, tc.status); got != tc.want {
			t.Errorf("%s: syncState(%d, %#x) = %q, want %q", tc.name, tc.state, tc.status, got, tc.want)
		}
	}
	// The real call must answer one of the three states.
	switch got := clockState(); got {
	case telemetry.ClockSynchronised, telemetry.ClockUnsynchronised, telemetry.ClockUnknown:
	default:
		t.Errorf("clockState() = %q", got)
	}
}
