package energy

import (
	"math"
	"time"
)

// Sample is one good value of one point at its source timestamp.
type Sample struct {
	T time.Time
	V float64
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
}

// Counter turns the readings of a totalizing counter into consumption per
// minute. Between two readings no more than MaxGap apart the delta is
// spread over the minutes in proportion to time (consumption is assumed
// even over a short interval). Across a longer silence nothing is spread:
// the delta, which is real, is booked to the minute of the reading that
// ends the gap and flagged there, because when in the gap it was consumed
// is unknown. A decrease is a reset or a meter replacement: counting goes
// on from the new value and nothing is booked for that interval.
type Counter struct {
	MaxGap time.Duration

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
	delta := s.V - prev.V
	end := s.T.Truncate(time.Minute)
	if delta < 0 {
		if -delta <= resetTolerance*math.Abs(prev.V) {
			delta = 0
		} else {
			c.bucket(end).Resets++
			return
		}
	}
	span := s.T.Sub(prev.T)
	if span > c.MaxGap {
		b := c.bucket(end)
		b.Delta += delta
		b.Gaps++
		return
	}
	for m := prev.T.Truncate(time.Minute); m.Before(s.T); m = m.Add(time.Minute) {
		lo, hi := maxTime(m, prev.T), minTime(m.Add(time.Minute), s.T)
		share := float64(hi.Sub(lo)) / float64(span)
		b := c.bucket(m)
		b.Delta += delta * share
		b.Covered += float64(hi.Sub(lo)) / float64(time.Minute)
	}
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
