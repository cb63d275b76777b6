package energy

import (
	"math"
	"time"
)

// Sample is one good value of one point at its source timestamp.
type Sample struct {
	T time.Time
	V float64
	// Reset is the gateway's mark of a counter that went down since its
	// previous reading (telemetry.Value.Reset). Today's gateway marks every
	// decrease, wraps and float32 jitter included, so the counter weighs
	// the mark against its modulus and jitter tolerance (see Counter).
	Reset bool
}

// Bucket is what a counter says about one minute.
type Bucket struct {
	// Delta is the increase of the counter booked to the minute, in the
	// counter's unit.
	Delta float64
	// Covered is the share of the minute (0–1) that lies between two
	// consecutive readings no more than MaxGap apart: the part of the
	// minute whose consumption is known to have been booked here.
	Covered float64
	// Resets counts decreases of the counter (reset or replacement) seen
	// at a reading in this minute; Gaps counts readings in this minute that
	// followed a silence longer than MaxGap, whose whole delta is booked
	// here.
	Resets, Gaps int
	// Wraps counts rollovers past Modulus booked at a reading in this
	// minute (new + Modulus − previous). Suspect counts readings in this
	// minute whose delta the counter could not tell for sure: a decrease
	// across a gap that the maximum rate does not explain as a wrap
	// (nothing booked), or a gap long enough for more than one wrap (the
	// fewest wraps booked). An auditor checks these against the meter.
	Wraps, Suspect int
}

// Counter turns the readings of a totalizing counter into consumption per
// minute. Between two readings no more than MaxGap apart the delta is
// spread over the minutes in proportion to time (consumption is assumed
// even over a short interval). Across a longer silence nothing is spread:
// the delta, which is real, is booked to the minute of the reading that
// ends the gap and flagged there, because when in the gap it was consumed
// is unknown.
//
// A decrease is one of three things, told apart in this order:
//   - float32 jitter (a drop within resetTolerance of the value): nothing
//     is booked and the baseline stays at the higher reading, so the
//     rebound is not counted twice;
//   - a wrap past Modulus, when the wrapped delta new + Modulus − previous
//     is plausible: at most MaxRate over the interval, or, without
//     MaxRate, at most half the modulus over an interval within MaxGap.
//     It is booked like any delta and counted in Wraps;
//   - otherwise a reset (meter zeroed or replaced), counted in Resets. The
//     new reading is the baseline from then on. What was used between the
//     previous reading and the reset is unknown and not booked; the new
//     reading itself is booked as use since the meter restarted from 0
//     only when MaxRate says it could have been counted in the interval
//     (a zeroed meter), never otherwise (a replacement meter that starts
//     at its factory or transferred reading would invent consumption).
//
// Across a gap a decrease that no plausible wrap explains (or any, when
// MaxRate is unknown) cannot be told from a reset: nothing is booked and it
// is counted in Suspect, as is a gap so long that MaxRate allows more than
// one wrap (the fewest wraps are booked). The gateway's reset mark
// (Sample.Reset) makes an increase a reset; on a decrease it adds nothing,
// since the gateway marks every decrease, wraps and jitter included.
type Counter struct {
	MaxGap time.Duration
	// Modulus is the value at which the counter rolls over to zero, in
	// its unit (100000 for a 5-digit kWh register); 0: unknown, so a
	// decrease is never a wrap.
	Modulus float64
	// MaxRate is the meter's plausible maximum increase per hour, in its
	// unit; 0: unknown.
	MaxRate float64

	last Sample
	has  bool
	// buckets by the minute's Unix second: time.Time keys would also
	// compare the *Location, which differs between equal instants.
	buckets map[int64]*Bucket
}

// resetTolerance ignores decreases of a float32 register's last bits,
// relative to the value.
const resetTolerance = 1e-6

// Add takes a reading; readings must come in time order, and one not
// newer than the last is ignored (so overlapping queries are harmless).
func (c *Counter) Add(s Sample) {
	if c.buckets == nil {
		c.buckets = map[int64]*Bucket{}
	}
	if math.IsNaN(s.V) || math.IsInf(s.V, 0) {
		return
	}
	if !c.has {
		c.last, c.has = s, true
		return
	}
	if !s.T.After(c.last.T) {
		return
	}
	prev := c.last
	c.last = s
	span := s.T.Sub(prev.T)
	gap := span > c.MaxGap
	// most is what the meter can plausibly count in the interval; 0:
	// unknown.
	most := c.MaxRate * span.Hours()
	delta := s.V - prev.V
	wraps := 0
	switch {
	case delta < 0 && -delta <= resetTolerance*math.Abs(prev.V):
		// Jitter of a float register: the counter did not go down.
		c.last.V = prev.V
		delta = 0
	case delta >= 0 && s.Reset:
		c.reset(s, span, gap, most)
		return
	case delta < 0:
		w := delta + c.Modulus
		switch {
		case c.Modulus > 0 && w >= 0 && most > 0 && w <= most*(1+1e-9):
		case c.Modulus > 0 && w >= 0 && most == 0 && !gap && w <= c.Modulus/2:
		case c.Modulus > 0 && gap:
			b := c.bucket(s.T.Truncate(time.Minute))
			b.Gaps++
			b.Suspect++
			return
		default:
			c.reset(s, span, gap, most)
			return
		}
		delta, wraps = w, 1
	}
	c.book(prev, s, delta, gap, wraps, c.Modulus > 0 && most > 0 && delta+c.Modulus <= most*(1+1e-9))
}

// reset books a reading that restarted the counter (see Counter).
func (c *Counter) reset(s Sample, span time.Duration, gap bool, most float64) {
	if most > 0 && s.V > 0 && s.V <= most*(1+1e-9) {
		// Counted from 0 since the reset, somewhere in the interval.
		c.book(Sample{T: s.T.Add(-span), V: 0}, s, s.V, gap, 0, false)
		c.lastBucket(s.T, gap).Resets++
		return
	}
	c.bucket(s.T.Truncate(time.Minute)).Resets++
}

// book books delta for the interval from prev to s: at the reading across
// a gap, else spread in proportion to time. Wraps and suspect flags go to
// the last minute the delta reached.
func (c *Counter) book(prev, s Sample, delta float64, gap bool, wraps int, suspect bool) {
	last := c.lastBucket(s.T, gap)
	last.Wraps += wraps
	if suspect {
		last.Suspect++
	}
	if gap {
		last.Delta += delta
		last.Gaps++
		return
	}
	span := s.T.Sub(prev.T)
	for m := prev.T.Truncate(time.Minute); m.Before(s.T); m = m.Add(time.Minute) {
		lo, hi := maxTime(m, prev.T), minTime(m.Add(time.Minute), s.T)
		share := float64(hi.Sub(lo)) / float64(span)
		b := c.bucket(m)
		b.Delta += delta * share
		b.Covered += float64(hi.Sub(lo)) / float64(time.Minute)
	}
}

// lastBucket is the minute an interval ending at t books last: the
// reading's own minute across a gap, else the minute before t (t's minute
// when t is not on a minute boundary).
func (c *Counter) lastBucket(t time.Time, gap bool) *Bucket {
	if gap {
		return c.bucket(t.Truncate(time.Minute))
	}
	return c.bucket(t.Add(-1).Truncate(time.Minute))
}

func (c *Counter) bucket(m time.Time) *Bucket {
	b := c.buckets[m.Unix()]
	if b == nil {
		b = &Bucket{}
		c.buckets[m.Unix()] = b
	}
	return b
}

// Take removes and returns the minute starting at m.
func (c *Counter) Take(m time.Time) Bucket {
	b := c.buckets[m.Unix()]
	if b == nil {
		return Bucket{}
	}
	delete(c.buckets, m.Unix())
	return *b
}

// Last is the newest reading, if any.
func (c *Counter) Last() (Sample, bool) { return c.last, c.has }

// Drop forgets minutes before m that were never taken, bounding memory if a
// caller skips minutes.
func (c *Counter) Drop(m time.Time) {
	for k := range c.buckets {
		if k < m.Unix() {
			delete(c.buckets, k)
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
