package derived

import (
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/energy"
)

// TestEstimatedPoints: a window's estimated minutes, by kind, and their
// share are written with its energy point, zero included, and the day's
// share with its completeness record.
func TestEstimatedPoints(t *testing.T) {
	at := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	day := energy.MeterResult{Site: "s", Meter: "steam", EnergyType: "steam", Unit: "t", Period: energy.Day, Start: at,
		Minutes: 1440, Native: 192, Kgce: 17000, Covered: 1440, Received: 1440, Expected: 1440, Fallback: 144, FallbackCoef: 60}
	got := strings.Join(lines(Points(&energy.Output{Energy: []energy.MeterResult{day}})), "\n")
	for _, w := range []string{"fallback_minutes=144i", "coefficient_minutes=60i", "last_known_minutes=84i", "last_known_minutes=84i,estimated=10 ",
		"kind=completeness", "flagged=false,estimated=10 "} {
		if !strings.Contains(got, w) {
			t.Errorf("points:\n%s\nwant %q", got, w)
		}
	}
	day.Fallback, day.FallbackCoef = 0, 0
	got = strings.Join(lines(Points(&energy.Output{Energy: []energy.MeterResult{day}})), "\n")
	for _, w := range []string{"coefficient_minutes=0i", "last_known_minutes=0i", "last_known_minutes=0i,estimated=0 "} {
		if !strings.Contains(got, w) {
			t.Errorf("points:\n%s\nwant %q", got, w)
		}
	}
}
