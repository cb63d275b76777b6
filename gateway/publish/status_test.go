package publish

import (
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

func TestStatusFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		o          Options
		wantUptime int64
		wantClock  string
	}{
		{"not set", Options{Gateway: "gw"}, 0, ""},
		{"uptime and clock", Options{Gateway: "gw", Started: time.Now().Add(-90 * time.Second),
			Clock: func() string { return telemetry.ClockUnsynchronised }}, 90, telemetry.ClockUnsynchronised},
	}
	for _, tc := range tests {
		st := New(tc.o).Status("online")
		if st.UptimeS != tc.wantUptime || st.Clock != tc.wantClock {
			t.Errorf("%s: uptime_s %d, clock %q; want %d, %q", tc.name, st.UptimeS, st.Clock, tc.wantUptime, tc.wantClock)
		}
	}
}

// StatusChanged is called from polling goroutines: it must never block,
// and requests made while one is pending merge into it.
func TestStatusChangedMerges(t *testing.T) {
	t.Parallel()
	p := New(Options{Gateway: "gw"})
	done := make(chan struct{})
	go func() {
		for range 100 {
			p.StatusChanged()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("StatusChanged blocked")
	}
	if n := len(p.changed); n != 1 {
		t.Errorf("%d pending status requests, want 1", n)
	}
	if p.Connected() {
		t.Error("Connected before Run")
	}
}

// config_applied: the start config's time until a pushed config applies,
// then the moment it did.
func TestStatusConfigApplied(t *testing.T) {
	t.Parallel()
	if st := New(Options{Gateway: "gw", ConfigVersion: "3"}).Status("online"); st.ConfigApplied != 0 {
		t.Errorf("no ConfigApplied: config_applied %d, want it left out", st.ConfigApplied)
	}
	installed := time.UnixMilli(1717990000000)
	p := New(Options{Gateway: "gw", ConfigVersion: "3", ConfigApplied: installed})
	if st := p.Status("online"); st.ConfigVersion != "3" || st.ConfigApplied != installed.UnixMilli() {
		t.Errorf("start: config %s applied %d, want 3 applied %d", st.ConfigVersion, st.ConfigApplied, installed.UnixMilli())
	}
	before := time.Now().UnixMilli()
	p.SetConfigVersion("4")
	if st := p.Status("online"); st.ConfigVersion != "4" || st.ConfigApplied < before || st.ConfigApplied > time.Now().UnixMilli() {
		t.Errorf("pushed: config %s applied %d, want 4 applied at %d or later", st.ConfigVersion, st.ConfigApplied, before)
	}
}
