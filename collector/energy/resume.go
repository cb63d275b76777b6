package energy

import "time"

// Aggregates are built from whole children, never from memory alone: a
// quarter adds up its minutes, an hour its quarters, a day its hours (a
// meter's day its quarters), a month its days, each from zero and in time
// order. A window that is open when computing (re)starts is rebuilt the same
// way from its children already closed and stored (Restore), so its value
// is the same, to the last bit, whether computing ran through it, restarted
// inside it after a crash, or went back into it to fold in late data.
var (
	boilerChain = []Period{Minute, Quarter, Hour, Day, Month}
	meterChain  = []Period{Minute, Quarter, Day, Month}
)

// Span is a window open at a start point: Parent's window starting at
// Start, whose Child windows in [Start, To) are closed and stored.
type Span struct {
	Parent, Child Period
	Start, To     time.Time
}

func spans(chain []Period, at time.Time, loc *time.Location) []Span {
	var out []Span
	for i := 2; i < len(chain); i++ {
		p, c := chain[i], chain[i-1]
		s, to := Floor(at, p, loc), Floor(at, c, loc)
		if to.After(s) {
			out = append(out, Span{Parent: p, Child: c, Start: s, To: to})
		}
	}
	return out
}

// Spans are the boiler's windows open at at (a quarter-hour boundary) that
// Restore must rebuild from stored children.
func (b *Boiler) Spans(at time.Time) []Span { return spans(boilerChain, at, b.loc) }

// Spans are the meter's windows open at at (a quarter-hour boundary) that
// Restore must rebuild from stored children.
func (m *Meter) Spans(at time.Time) []Span { return spans(meterChain, at, m.loc) }

// Restore rebuilds the open window of period p starting at start from its
// stored closed children, oldest first. Call it after Start.
func (b *Boiler) Restore(p Period, start time.Time, children []Sums) {
	a := b.openWindow(p, start)
	for _, c := range children {
		a.add(c)
	}
}

func (b *Boiler) openWindow(p Period, start time.Time) *Result {
	a := b.open[p]
	if a == nil || !a.Start.Equal(start) {
		a = &Result{Site: b.Cfg.Site, Boiler: b.Cfg.Name, Period: p, Start: start, Expected: Minutes(start, p), Limit: b.Limit.Grade3()}
		b.open[p] = a
	}
	return a
}

// fold adds a closed window's sums (of period chain[i], ending at end) to
// its parents, closing and emitting those that end with it.
func (b *Boiler) fold(s Sums, start, end time.Time, out *Output) {
	for _, p := range boilerChain[1:] {
		a := b.openWindow(p, Floor(start, p, b.loc))
		a.add(s)
		if Next(a.Start, p).After(end) {
			return // still open: its parents get it when it closes
		}
		b.finish(a)
		out.Efficiency = append(out.Efficiency, *a)
		if p == Hour {
			b.hourAlerts(a, out)
		}
		delete(b.open, p)
		s = a.Sums
	}
}

// CounterKeys are the boiler's counter inputs, which need their last
// reading before the start (Baseline).
func (b *Boiler) CounterKeys() []Key {
	var out []Key
	if b.steamC != nil {
		out = append(out, b.keys["steam_total"])
	}
	if b.coalC != nil {
		out = append(out, b.keys["coal_total"])
	}
	return out
}

// BaselineKey gives counter k its last reading before the first minute, so
// the first minutes book what an uninterrupted run books. Call it after
// Start.
func (b *Boiler) BaselineKey(k Key, s Sample) {
	if b.steamC != nil && k == b.keys["steam_total"] {
		b.steamC.Add(s)
	}
	if b.coalC != nil && k == b.keys["coal_total"] {
		b.coalC.Add(s)
	}
}

// CounterKeys is the meter's counter.
func (m *Meter) CounterKeys() []Key { return []Key{m.key} }

// BaselineKey is Baseline for the meter's counter key.
func (m *Meter) BaselineKey(k Key, s Sample) {
	if k == m.key {
		m.Baseline(s)
	}
}

// forget drops a counter's readings and booked minutes and keeps its
// configuration: computing starts again at a point where the readings
// before it come again (Baseline, then the data), and a counter that kept
// a later reading would ignore them as not newer.
func (c *Counter) forget() { c.last, c.has, c.buckets = Sample{}, false, nil }

// Restore rebuilds the open window of period p starting at start from its
// stored closed children, oldest first. Call it after Start.
func (m *Meter) Restore(p Period, start time.Time, children []MeterResult) {
	for i, c := range children {
		a := m.openWindow(p, start, c.HasPrimary)
		if i == 0 {
			a.HasPrimary = c.HasPrimary
		}
		a.addUp(&c)
	}
}

func (m *Meter) openWindow(p Period, start time.Time, hasPrimary bool) *MeterResult {
	a := m.open[p]
	if a == nil || !a.Start.Equal(start) {
		a = &MeterResult{Site: m.Cfg.Site, Meter: m.Cfg.Name, EnergyType: m.Cfg.EnergyType, Unit: m.Cfg.Unit,
			Period: p, Start: start, Minutes: Minutes(start, p), HasPrimary: hasPrimary}
		a.Expected = float64(a.Minutes) * float64(time.Minute) / float64(m.Cfg.Interval.Duration)
		m.open[p] = a
	}
	return a
}

// addUp adds the additive parts of r (a child window) to a.
func (a *MeterResult) addUp(r *MeterResult) {
	a.Native += r.Native
	a.Kgce += r.Kgce
	a.KgcePrimary += r.KgcePrimary
	a.HasPrimary = a.HasPrimary && r.HasPrimary
	a.Resets += r.Resets
	a.Gaps += r.Gaps
	a.Fallback += r.Fallback
	a.FallbackCoef += r.FallbackCoef
	a.Wraps += r.Wraps
	a.Suspect += r.Suspect
	a.Covered += r.Covered
	a.Received += r.Received
}

// fold adds a closed window r (a minute or a quarter) to its parents,
// closing and emitting those that end with it.
func (m *Meter) fold(r MeterResult, start, end time.Time, out *Output) {
	for _, p := range meterChain[1:] {
		a := m.openWindow(p, Floor(start, p, m.loc), r.HasPrimary)
		a.addUp(&r)
		if Next(a.Start, p).After(end) {
			return
		}
		out.Energy = append(out.Energy, *a)
		delete(m.open, p)
		r = *a
	}
}
