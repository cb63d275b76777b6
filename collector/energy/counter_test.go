package energy

import (
	"math"
	"testing"
	"time"
)

// reading is one counter reading for the table tests: minutes after t0,
// value, and the gateway's reset mark.
type reading struct {
	min   float64
	v     float64
	reset bool
}

// TestCounterWrapsAndResets books a 5-digit register (modulus 100000 kWh)
// read every 15 minutes, as issue 13 saw it: a wrap used to be booked as a
// reset, losing its quarter hour, and a wrap in a data gap lost the gap.
// Each case sums what the counter booked over every minute of the readings.
func TestCounterWrapsAndResets(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		counter  Counter
		readings []reading
		want     Bucket // summed over every minute; Covered in minutes
	}{
		{"wrap within max_gap is new + modulus − previous",
			Counter{MaxGap: 30 * time.Minute, Modulus: 100000},
			[]reading{{0, 99900, false}, {15, 99990, false}, {30, 30, false}, {45, 120, false}},
			Bucket{Delta: 220, Covered: 45, Wraps: 1}},
		{"wrap marked reset by the gateway is still a wrap",
			Counter{MaxGap: 30 * time.Minute, Modulus: 100000, MaxRate: 1000},
			[]reading{{0, 99990, false}, {15, 30, true}},
			Bucket{Delta: 40, Covered: 15, Wraps: 1}},
		{"wrap faster than max_rate is a reset",
			Counter{MaxGap: 30 * time.Minute, Modulus: 100000, MaxRate: 100},
			[]reading{{0, 99000, false}, {15, 500, false}},
			Bucket{Resets: 1}},
		{"zeroed meter: a decrease no wrap explains is a reset, the new reading counts from 0 within max_rate",
			Counter{MaxGap: 30 * time.Minute, Modulus: 100000, MaxRate: 100},
			[]reading{{0, 50000, false}, {15, 3, false}, {30, 13, false}},
			Bucket{Delta: 13, Covered: 30, Resets: 1}},
		{"replaced meter starting beyond max_rate: nothing booked for the interval",
			Counter{MaxGap: 30 * time.Minute, Modulus: 100000, MaxRate: 100},
			[]reading{{0, 50000, false}, {15, 12345, false}, {30, 12355, false}},
			Bucket{Delta: 10, Covered: 15, Resets: 1}},
		{"without modulus a decrease stays a reset",
			Counter{MaxGap: 30 * time.Minute},
			[]reading{{0, 99990, false}, {15, 30, false}, {30, 40, false}},
			Bucket{Delta: 10, Covered: 15, Resets: 1}},
		{"without max_rate a wrap over more than half the modulus is a reset",
			Counter{MaxGap: 30 * time.Minute, Modulus: 100000},
			[]reading{{0, 60000, false}, {15, 20000, false}},
			Bucket{Resets: 1}},
		{"reset mark on an increase is a reset",
			Counter{MaxGap: 30 * time.Minute, Modulus: 100000, MaxRate: 100},
			[]reading{{0, 100, false}, {15, 5000, true}, {30, 5010, false}},
			Bucket{Delta: 10, Covered: 15, Resets: 1}},
		{"wrap in a gap within max_rate is booked at the gap's end",
			Counter{MaxGap: 30 * time.Minute, Modulus: 100000, MaxRate: 200},
			[]reading{{0, 99900, false}, {180, 200, false}},
			Bucket{Delta: 300, Gaps: 1, Wraps: 1}},
		{"wrap in a gap beyond max_rate is flagged, nothing booked",
			Counter{MaxGap: 30 * time.Minute, Modulus: 100000, MaxRate: 200},
			[]reading{{0, 99000, false}, {180, 5000, false}, {195, 5010, false}},
			Bucket{Delta: 10, Covered: 15, Gaps: 1, Suspect: 1}},
		{"wrap in a gap without max_rate is flagged, nothing booked",
			Counter{MaxGap: 30 * time.Minute, Modulus: 100000},
			[]reading{{0, 99900, false}, {180, 200, false}},
			Bucket{Gaps: 1, Suspect: 1}},
		{"gap long enough for another wrap: the fewest wraps booked, flagged",
			Counter{MaxGap: 30 * time.Minute, Modulus: 1000, MaxRate: 500},
			[]reading{{0, 100, false}, {180, 300, false}},
			Bucket{Delta: 200, Gaps: 1, Suspect: 1}},
		{"float32 jitter is not a reset nor a wrap",
			Counter{MaxGap: 30 * time.Minute, Modulus: 100000, MaxRate: 100},
			[]reading{{0, 99999.99, false}, {15, 99999.98, false}, {30, 99999.99, false}},
			Bucket{Delta: 0, Covered: 30}},
		{"float32 jitter marked reset by the gateway is not a reset",
			Counter{MaxGap: 30 * time.Minute},
			[]reading{{0, 54321.5, false}, {15, 54321.49, true}, {30, 54321.6, false}},
			Bucket{Delta: 0.1, Covered: 30}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.counter
			for _, r := range tc.readings {
				c.Add(Sample{T: t0.Add(time.Duration(r.min * float64(time.Minute))), V: r.v, Reset: r.reset})
			}
			var got Bucket
			last := int(tc.readings[len(tc.readings)-1].min)
			for m := 0; m <= last; m++ {
				b := c.Take(t0.Add(time.Duration(m) * time.Minute))
				got.Delta += b.Delta
				got.Covered += b.Covered
				got.Resets += b.Resets
				got.Gaps += b.Gaps
				got.Wraps += b.Wraps
				got.Suspect += b.Suspect
			}
			if math.Abs(got.Delta-tc.want.Delta) > 1e-6 || math.Abs(got.Covered-tc.want.Covered) > 1e-6 ||
				got.Resets != tc.want.Resets || got.Gaps != tc.want.Gaps || got.Wraps != tc.want.Wraps || got.Suspect != tc.want.Suspect {
				t.Errorf("booked %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestCounterWrapMinutes: a wrap's delta is spread over the interval like
// any other, so the quarter hour in which the register wraps gets its
// consumption minute by minute, and the wrap is flagged in the last minute
// its delta reached (the same quarter hour, even for a reading at :15:00).
func TestCounterWrapMinutes(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	c := Counter{MaxGap: 30 * time.Minute, Modulus: 100000}
	c.Add(Sample{T: t0, V: 99995})
	c.Add(Sample{T: t0.Add(15 * time.Minute), V: 10})
	for m := 0; m < 15; m++ {
		b := c.Take(t0.Add(time.Duration(m) * time.Minute))
		wraps := 0
		if m == 14 {
			wraps = 1
		}
		if math.Abs(b.Delta-1) > 1e-9 || b.Covered != 1 || b.Wraps != wraps || b.Resets != 0 {
			t.Errorf("minute %d: %+v, want 1 kWh covered, %d wraps, no reset", m, b, wraps)
		}
	}
	if b := c.Take(t0.Add(15 * time.Minute)); b != (Bucket{}) {
		t.Errorf("minute 15: %+v, want nothing", b)
	}
}
