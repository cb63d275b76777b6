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
