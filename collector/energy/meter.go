package energy

import (
	"fmt"
	"math"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/steam"
)

// MeterResult is a meter's consumption over one window.
type MeterResult struct {
	Site, Meter, EnergyType, Unit string
	Period                        Period
	Start                         time.Time
	// Native is the counter's increase in its own unit; Kgce its standard
	// coal (当量值); KgcePrimary the 等价值 where configured (electricity).
	Native, Kgce, KgcePrimary float64
	HasPrimary                bool
	// Resets and Gaps count counter decreases and silences longer than
	// max_gap.
	Resets, Gaps int
	// Fallback counts the minutes with consumption whose kgce is an
	// estimate: the steam meter's pressure (or temperature) or the LHV in
	// force was missing. FallbackCoef of them were converted by the
	// reference coefficient; the rest (LastKnown) with the last enthalpy
	// difference metered within steam.estimate_within.
	Fallback, FallbackCoef int
	// Wraps counts counter rollovers booked (new + modulus − previous);
	// Suspect the readings whose delta could not be told for sure (see
	// Bucket): an auditor checks them against the meter.
	Wraps, Suspect int
	// Covered is the number of minutes spanned by readings.
	Covered float64
	Minutes int // minutes in the window
	// Received counts the good readings in the window; Expected how many
	// the configured interval promises (for completeness, days only).
	Received int
	Expected float64
}

// Completeness is Received/Expected in %, at most 100.
func (r *MeterResult) Completeness() float64 {
	if r.Expected <= 0 {
		return 0
	}
	return math.Min(100, 100*float64(r.Received)/r.Expected)
}

// Meter accounts one counter.
type Meter struct {
	Cfg *config.Meter

	key, pKey, tKey Key
	counter         Counter
	canon           float64 // native → canonical unit (kg, kWh, MJ, m³, t)
	coef            float64 // kgce per native unit by the reference coefficient
	kgceKJ          float64
	lhv             []config.DatedLHV
	primary         []config.DatedFactor
	loc             *time.Location
	next            time.Time
	open            map[Period]*MeterResult
}

func newMeter(e *config.Energy, c *config.Meter) (*Meter, error) {
	m := &Meter{Cfg: c, key: Key{c.Device, c.Point}, counter: Counter{MaxGap: c.MaxGap.Duration, Modulus: c.Modulus, MaxRate: c.MaxRate},
		kgceKJ: e.Ref.Coal.KgceKJ, lhv: c.LHV, loc: e.Location, open: map[Period]*MeterResult{}}
	m.canon, _ = config.UnitFactor(c.EnergyType, c.Unit)
	name := c.Coefficient
	if name == "" {
		name = e.Ref.Coal.Defaults[c.EnergyType]
	}
	coef, ok := e.Ref.Coal.Coefficients[name]
	if !ok {
		return nil, fmt.Errorf("meter %s: no GB/T 2589 coefficient for %s", c.Name, c.EnergyType)
	}
	f, ok := config.CoefficientFactor(c.EnergyType, c.Unit, coef.Unit)
	if !ok {
		return nil, fmt.Errorf("meter %s: coefficient %s is per %s, not convertible from %s", c.Name, name, coef.Unit, c.Unit)
	}
	m.coef = f * coef.Kgce
	if c.LHVFrom != "" {
		for i := range e.Boilers {
			if e.Boilers[i].Name == c.LHVFrom {
				m.lhv = e.Boilers[i].Coal.LHV
			}
		}
	}
	if c.EnergyType == "electricity" {
		m.primary = e.ElectricityPrimary
	}
	if c.Steam != nil {
		m.pKey = Key{c.Steam.Pressure.Device, c.Steam.Pressure.Point}
		if c.Steam.Temperature != nil {
			m.tKey = Key{c.Steam.Temperature.Device, c.Steam.Temperature.Point}
		}
	}
	return m, nil
}

// Keys are the points the meter reads.
func (m *Meter) Keys() []Key {
	out := []Key{m.key}
	if m.pKey.Point != "" {
		out = append(out, m.pKey)
	}
	if m.tKey.Point != "" {
		out = append(out, m.tKey)
	}
	return out
}

// Next is the first minute not yet accounted.
func (m *Meter) Next() time.Time { return m.next }

// Start sets the first minute to account and forgets partial aggregates
// and the counter's readings: Restore and Baseline rebuild them from what
// is stored (the last reading before t, wherever it was).
func (m *Meter) Start(t time.Time) {
	m.next = Floor(t, Minute, m.loc)
	m.open = map[Period]*MeterResult{}
	m.counter.forget()
}

// Baseline gives the counter the last reading before the first minute, so
// the first minute's consumption is known.
func (m *Meter) Baseline(s Sample) { m.counter.Add(s) }

func dated[T any](xs []T, from func(T) time.Time, t time.Time) (T, bool) {
	var v T
	ok := false
	for _, x := range xs {
		if !t.Before(from(x)) {
			v, ok = x, true
		}
	}
	return v, ok
}

// estimate says how a minute's kgce was had.
type estimate int

const (
	// measured: by the configured conversion, from the minute's own
	// values (a steam pressure or temperature read within max_gap before
	// the minute holds, as a counter's reading does).
	measured estimate = iota
	// lastKnown: a steam minute converted with the last enthalpy
	// difference metered within steam.estimate_within before it.
	lastKnown
	// byCoefficient: converted by the reference coefficient although a
	// better conversion is configured (no pressure within
	// estimate_within, no LHV in force yet).
	byCoefficient
)

func (e estimate) String() string {
	return [...]string{"measured", "last known enthalpy", "by coefficient"}[e]
}

// LastKnown is the number of minutes converted with the last known
// enthalpy difference.
func (r *MeterResult) LastKnown() int { return r.Fallback - r.FallbackCoef }

// EstimatedShare is the share of the window's minutes whose kgce is an
// estimate, in %.
func (r *MeterResult) EstimatedShare() float64 {
	return 100 * float64(r.Fallback) / float64(max(r.Minutes, 1))
}

// LookBack is how far before a minute the meter may read its inputs: the
// counter's max_gap, and a steam meter's estimate_within (the data given
// to Advance should reach back this far, or a minute after a restart is
// converted differently from an uninterrupted run's).
func (m *Meter) LookBack() time.Duration {
	d := m.Cfg.MaxGap.Duration
	if m.Cfg.Steam != nil {
		d = max(d, m.Cfg.Steam.EstimateWithin.Duration)
	}
	return d
}

// kgce converts a minute's native delta and says how.
func (m *Meter) kgce(d Data, t time.Time, native float64) (float64, estimate) {
	c := m.Cfg
	switch {
	case len(m.lhv) > 0:
		if l, ok := dated(m.lhv, func(x config.DatedLHV) time.Time { return x.FromTime }, t); ok {
			return native * m.canon * l.LHV / m.kgceKJ, measured
		}
		return native * m.coef, byCoefficient
	case c.Steam != nil:
		if dh, ok := m.steamHeat(d, t, c.MaxGap.Duration); ok {
			return native * m.canon * dh / m.kgceKJ, measured
		}
		if w := c.Steam.EstimateWithin.Duration; w > c.MaxGap.Duration {
			if dh, ok := m.steamHeat(d, t, w); ok {
				return native * m.canon * dh / m.kgceKJ, lastKnown
			}
		}
		return native * m.coef, byCoefficient
	}
	return native * m.coef, measured
}

// steamHeat is h(steam) − h(water at the reference temperature), kJ/kg, at
// the minute's pressure (and temperature), or else the last read within
// `within` before it.
func (m *Meter) steamHeat(d Data, t time.Time, within time.Duration) (float64, bool) {
	pick := func(k Key) (float64, bool) {
		s := window(d[k], t.Add(-within), t.Add(time.Minute))
		if in := window(s, t, t.Add(time.Minute)); len(in) > 0 {
			return mean(in)
		}
		if len(s) > 0 {
			return s[len(s)-1].V, true
		}
		return 0, false
	}
	p, ok := pick(m.pKey)
	if !ok {
		return 0, false
	}
	pAbs := steam.GaugeToAbsoluteMPa(p)
	var h float64
	var err error
	if m.tKey.Point != "" {
		tc, ok := pick(m.tKey)
		if !ok {
			return 0, false
		}
		h, err = steam.SteamEnthalpy(pAbs, tc)
	} else {
		h, err = steam.SaturatedSteamEnthalpy(pAbs)
	}
	if err != nil {
		return 0, false
	}
	hw, err := steam.WaterEnthalpy(pAbs, *m.Cfg.Steam.ReferenceC)
	if err != nil {
		return 0, false
	}
	return h - hw, true
}

// Advance accounts every minute from Next up to (not including) to. d must
// hold the counter's readings up to as late as are available (a delta is
// spread over the minutes between two readings, so a minute is complete
// only once the reading after it is in).
func (m *Meter) Advance(to time.Time, d Data, out *Output) {
	if m.next.IsZero() {
		return
	}
	series := d[m.key]
	for _, s := range series {
		m.counter.Add(s)
	}
	for ; m.next.Before(to); m.next = m.next.Add(time.Minute) {
		t := m.next
		bk := m.counter.Take(t)
		kg, est := m.kgce(d, t, bk.Delta)
		r := MeterResult{Native: bk.Delta, Kgce: kg, Resets: bk.Resets, Gaps: bk.Gaps, Wraps: bk.Wraps, Suspect: bk.Suspect, Covered: bk.Covered,
			Received: len(window(series, t, t.Add(time.Minute)))}
		if est != measured && bk.Delta != 0 {
			r.Fallback = 1
			if est == byCoefficient {
				r.FallbackCoef = 1
			}
		}
		if f, ok := dated(m.primary, func(x config.DatedFactor) time.Time { return x.FromTime }, t); ok {
			r.KgcePrimary, r.HasPrimary = bk.Delta*m.canon*f.KgcePerKWh, true
		}
		m.fold(r, t, t.Add(time.Minute), out)
	}
	m.counter.Drop(m.next)
}
