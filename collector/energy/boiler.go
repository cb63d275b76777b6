package energy

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/efficiency"
	"github.com/boilerwatch/boilerwatch/collector/refdata"
	"github.com/boilerwatch/boilerwatch/collector/steam"
)

// Key names one point of one device.
type Key struct{ Device, Point string }

// Data are the good samples of the points an engine needs, each slice in
// time order. A value that was bad is simply absent.
type Data map[Key][]Sample

// window returns the samples of s in [from, to).
func window(s []Sample, from, to time.Time) []Sample {
	i := sort.Search(len(s), func(i int) bool { return !s[i].T.Before(from) })
	j := i
	for j < len(s) && s[j].T.Before(to) {
		j++
	}
	return s[i:j]
}

func mean(s []Sample) (float64, bool) {
	if len(s) == 0 {
		return math.NaN(), false
	}
	var sum float64
	for _, x := range s {
		sum += x.V
	}
	return sum / float64(len(s)), true
}

// minLoad: below this share of the rated output a boiler is treated as
// banked or off; efficiency is not defined there (q5's load correction
// diverges), so such minutes are "standby", neither a value nor missing
// data.
const minLoad = 0.1

// Sums are the additive parts of a boiler's efficiency over a window. A
// period's values are computed from them, and the sums of adjacent windows
// add up to those of the window covering them, so every period is computed
// from the same minutes with the same weights.
type Sums struct {
	Minutes  int // minutes processed
	Direct   int // minutes with a direct-method value
	Indirect int // minutes with an indirect-method value
	Standby  int // minutes below minLoad
	Samples  int // samples of the steam input

	HeatOut, HeatIn float64 // kJ, over the Direct minutes
	// W is the fuel heat implied by the indirect method (output heat /
	// η₂), kJ: the losses are in % of input heat, so a period's losses are
	// their means weighted by it.
	W      float64
	WQ     [5]float64 // Σ W·q2 … W·q6
	Alpha  float64    // Σ α over AlphaN minutes
	AlphaN int
	Load   float64 // Σ load (fraction of rated) over LoadN minutes
	LoadN  int
	Exh    float64 // Σ exhaust °C over ExhN minutes
	ExhN   int
	SteamT float64 // steam produced, t
	CoalT  float64 // coal burnt, t (Direct minutes)
	// RatedHours are the closed hours with a value of the boiler's method
	// whose mean load is at least its rated_load_share (an hour's own:
	// 0 or 1; a day's Σ of its hours, a month's Σ of its days); RatedOut
	// and RatedIn their output and (implied, for the indirect method)
	// fuel heat, kJ. Quarters and minutes have none.
	RatedHours        int
	RatedOut, RatedIn float64
}

func (s *Sums) add(o Sums) {
	s.Minutes += o.Minutes
	s.Direct += o.Direct
	s.Indirect += o.Indirect
	s.Standby += o.Standby
	s.Samples += o.Samples
	s.HeatOut += o.HeatOut
	s.HeatIn += o.HeatIn
	s.W += o.W
	for i := range s.WQ {
		s.WQ[i] += o.WQ[i]
	}
	s.Alpha += o.Alpha
	s.AlphaN += o.AlphaN
	s.Load += o.Load
	s.LoadN += o.LoadN
	s.Exh += o.Exh
	s.ExhN += o.ExhN
	s.SteamT += o.SteamT
	s.CoalT += o.CoalT
	s.RatedHours += o.RatedHours
	s.RatedOut += o.RatedOut
	s.RatedIn += o.RatedIn
}

// Result is a boiler's efficiency over one window.
type Result struct {
	Site, Boiler string
	Period       Period
	Start        time.Time
	Sums

	// Expected is the number of minutes in the window; Coverage the share
	// of them that have a value or were standby.
	Expected int
	// HasDirect/HasIndirect say whether Direct/Indirect are values; a
	// window without enough data has none (never a zero).
	HasDirect, HasIndirect bool
	DirectPct, IndirectPct float64
	Q                      [5]float64 // q2 … q6, % (with HasIndirect)
	// Limit is the GB 24500-2020 grade-3 limit; Grade 1–3, or 0 below it
	// (with HasGrade, i.e. when the classified method has a value).
	// These are operating indications: GB 24500 limits are for rated-load
	// tests. HasRated and RatedPct (day and month) are the efficiency of
	// the boiler's method over its RatedHours (Sums), the closer
	// comparison.
	Limit    float64
	Grade    int
	HasGrade bool
	HasRated bool
	RatedPct float64
	// Reasons say why a method has no value.
	Reasons []string
}

// Value is the efficiency of the boiler's configured method.
func (r *Result) Value(method string) (float64, bool) {
	if method == "indirect" {
		return r.IndirectPct, r.HasIndirect
	}
	return r.DirectPct, r.HasDirect
}

// Boiler computes one boiler's efficiency minute by minute and aggregates
// it.
type Boiler struct {
	Cfg   *config.Boiler
	Limit refdata.LimitRow
	q5    float64
	loc   *time.Location
	cov   float64

	keys             map[string]Key
	factor           map[string]float64
	steamC, coalC    *Counter
	next             time.Time
	open             map[Period]*Result
	below            *episode // hourly efficiency below the limit
	exhaust, alpha   *episode // 1-minute exhaust temperature, excess air
	exhMax, alphaMax float64
	alertBasis       string // alerts.below_limit_basis
}

func newBoiler(e *config.Energy, c *config.Boiler) (*Boiler, error) {
	row, err := e.Ref.Limits.Lookup(c.Firing, c.Fuel, c.RatedSteam)
	if err != nil {
		return nil, fmt.Errorf("boiler %s: %w", c.Name, err)
	}
	q5 := c.Losses.Q5Rated
	if q5 == 0 {
		if q5, err = e.Ref.Q5.Q5(c.RatedSteam); err != nil {
			return nil, fmt.Errorf("boiler %s: %w", c.Name, err)
		}
	}
	b := &Boiler{Cfg: c, Limit: row, q5: q5, loc: e.Location, cov: e.MinCoverage,
		keys: map[string]Key{}, factor: map[string]float64{}, open: map[Period]*Result{}}
	for name, ref := range c.Points.Named() {
		b.keys[name] = Key{ref.Device, ref.Point}
		f, _ := config.PointUnitFactor(config.BoilerPointKinds[name], ref.Unit)
		b.factor[name] = f
	}
	// A counter silent for longer than this has its delta booked at the
	// reading that ends the silence; for efficiency such a minute has no
	// value anyway.
	gap := 5 * time.Minute
	if c.Points.SteamTotal != nil {
		b.steamC = &Counter{MaxGap: gap}
	}
	if c.Points.CoalTotal != nil {
		b.coalC = &Counter{MaxGap: gap}
	}
	a := e.Alerts
	b.exhMax, b.alphaMax = a.ExhaustMaxC, a.ExcessAirMax
	b.alertBasis = a.BelowLimitBasis
	b.below = &episode{kind: KindBelowLimit, need: int(a.BelowLimitFor.Duration / time.Hour), step: time.Hour}
	if a.ExhaustMaxC > 0 {
		b.exhaust = &episode{kind: KindExhaustHigh, need: int(a.ExhaustFor.Duration / time.Minute), step: time.Minute}
	}
	if a.ExcessAirMax > 0 {
		b.alpha = &episode{kind: KindExcessAirHigh, need: int(a.ExcessAirFor.Duration / time.Minute), step: time.Minute}
	}
	return b, nil
}

// Keys are the points the boiler reads.
func (b *Boiler) Keys() []Key {
	out := make([]Key, 0, len(b.keys))
	for _, k := range b.keys {
		out = append(out, k)
	}
	return out
}

// Next is the first minute not yet computed.
func (b *Boiler) Next() time.Time { return b.next }

// Start sets the first minute to compute and forgets partial aggregates
// and counter readings: Restore and BaselineKey rebuild them from what is
// stored.
func (b *Boiler) Start(t time.Time) {
	b.next = Floor(t, Minute, b.loc)
	b.open = map[Period]*Result{}
	for _, c := range []*Counter{b.steamC, b.coalC} {
		if c != nil {
			c.forget()
		}
	}
}

func (b *Boiler) lhv(t time.Time) float64 {
	v := math.NaN()
	for _, l := range b.Cfg.Coal.LHV {
		if !t.Before(l.FromTime) {
			v = l.LHV
		}
	}
	return v
}

func (b *Boiler) carbon(t time.Time) (config.DatedCarbon, bool) {
	var c config.DatedCarbon
	ok := false
	for _, x := range b.Cfg.Losses.Carbon {
		if !t.Before(x.FromTime) {
			c, ok = x, true
		}
	}
	return c, ok
}

// input is the mean of a rate or temperature input over [m, m+1m), in its
// canonical unit.
func (b *Boiler) input(d Data, name string, m time.Time) (float64, int, bool) {
	k, ok := b.keys[name]
	if !ok {
		return math.NaN(), 0, false
	}
	s := window(d[k], m, m.Add(time.Minute))
	v, ok := mean(s)
	return v * b.factor[name], len(s), ok
}

// mass is the t of steam or coal in minute m, from a flow (t/h) or a
// counter (t); ok is false if it is not known for the whole minute.
func (b *Boiler) mass(d Data, flow, total string, c *Counter, m time.Time) (float64, int, string) {
	if c != nil {
		bk := c.Take(m)
		if bk.Resets > 0 || bk.Gaps > 0 || bk.Covered < 0.999 {
			return math.NaN(), 0, fmt.Sprintf("%s: readings do not cover the minute (covered %.0f %%, resets %d, gaps %d)", total, 100*bk.Covered, bk.Resets, bk.Gaps)
		}
		return bk.Delta * b.factor[total], 1, ""
	}
	v, n, ok := b.input(d, flow, m)
	if !ok {
		return math.NaN(), 0, fmt.Sprintf("%s: no good sample", flow)
	}
	return v / 60, n, ""
}

func (b *Boiler) feedCounters(d Data) {
	for _, x := range []struct {
		c    *Counter
		name string
	}{{b.steamC, "steam_total"}, {b.coalC, "coal_total"}} {
		if x.c == nil {
			continue
		}
		for _, s := range d[b.keys[x.name]] {
			x.c.Add(s)
		}
	}
}

// minute computes minute m.
func (b *Boiler) minute(d Data, m time.Time) Result {
	r := Result{Site: b.Cfg.Site, Boiler: b.Cfg.Name, Period: Minute, Start: m, Expected: 1, Limit: b.Limit.Grade3()}
	r.Minutes = 1
	steamT, n, why := b.mass(d, "steam_flow", "steam_total", b.steamC, m)
	coalT, _, coalWhy := b.mass(d, "coal_feed", "coal_total", b.coalC, m)
	r.Samples = n
	if why != "" {
		r.Reasons = append(r.Reasons, why)
		return r
	}
	load := steamT * 60 / b.Cfg.RatedSteam
	r.Load, r.LoadN, r.SteamT = load, 1, steamT
	if load < minLoad {
		r.Standby = 1
		return r
	}
	if exh, _, ok := b.input(d, "exhaust_temp", m); ok {
		r.Exh, r.ExhN = exh, 1
	}

	// Output heat: enthalpies from IAPWS-IF97, less the steam's wetness,
	// plus the blowdown's heat (efficiency.UsefulHeat).
	_, hp, whyH := b.enthalpyRise(d, m)
	var heatOut float64
	var in efficiency.DirectInput
	if whyH == "" {
		in, whyH = b.fluid(d, m, steamT, hp)
	}
	if whyH == "" {
		mj, err := efficiency.UsefulHeat(in)
		if err != nil {
			whyH = "direct: " + err.Error()
		}
		heatOut = mj * 1000
	}
	if whyH != "" {
		r.Reasons = append(r.Reasons, whyH)
		heatOut = 0
	}

	lhv := b.lhv(m)
	switch {
	case whyH != "":
	case coalWhy != "":
		r.Reasons = append(r.Reasons, "direct: "+coalWhy)
	case math.IsNaN(lhv):
		r.Reasons = append(r.Reasons, "direct: no coal LHV valid at this time")
	default:
		in.CoalFlow, in.LHV = coalT, lhv
		eta, err := efficiency.Direct(in)
		switch {
		case err != nil:
			r.Reasons = append(r.Reasons, "direct: "+err.Error())
		case eta > 100:
			// Above 100 % on the LHV basis is impossible for coal:
			// a meter is wrong, and the value must not be shown.
			r.Reasons = append(r.Reasons, fmt.Sprintf("direct: %.1f %% is implausible (steam or coal meter?)", eta))
		default:
			r.Direct = 1
			r.HeatOut, r.HeatIn, r.CoalT = heatOut, coalT*1000*lhv, coalT
		}
	}

	b.indirect(d, m, &r, steamT, heatOut, lhv)
	return r
}

type enthalpies struct{ steam, feed, blowdown float64 }

// fluid is the working-fluid side of the direct method for minute m, with
// steamT t of steam: the steam's wetness ω (points.steam_wetness, else
// steam_wetness, else dry) with r = h″ − h′, and the blowdown
// (points.blowdown_flow in t/h, else blowdown_rate % of the steam) at h′.
func (b *Boiler) fluid(d Data, m time.Time, steamT float64, hp enthalpies) (efficiency.DirectInput, string) {
	in := efficiency.DirectInput{Output: efficiency.SaturatedSteam, Flow: steamT, OutEnthalpy: hp.steam, FeedEnthalpy: hp.feed}
	if b.Cfg.Output == "superheated_steam" {
		in.Output = efficiency.SuperheatedSteam
	} else {
		if b.Cfg.Points.SteamWetness != nil {
			w, _, ok := b.input(d, "steam_wetness", m)
			if !ok {
				return in, "steam_wetness: no good sample"
			}
			in.WetnessPct = w
		} else if b.Cfg.SteamWetness != nil {
			in.WetnessPct = *b.Cfg.SteamWetness
		}
		in.LatentHeat = hp.steam - hp.blowdown
	}
	if b.Cfg.Points.BlowdownFlow != nil {
		bd, _, ok := b.input(d, "blowdown_flow", m)
		if !ok {
			return in, "blowdown_flow: no good sample"
		}
		in.BlowdownFlow = max(bd, 0) / 60
	} else if b.Cfg.BlowdownRate != nil {
		in.BlowdownFlow = *b.Cfg.BlowdownRate / 100 * steamT
	}
	if in.BlowdownFlow > 0 {
		in.BlowdownEnthalpy = hp.blowdown
	}
	return in, ""
}

// enthalpyRise is h(steam) − h(feedwater) at the minute's mean pressure.
func (b *Boiler) enthalpyRise(d Data, m time.Time) (float64, enthalpies, string) {
	var h enthalpies
	p, _, ok := b.input(d, "steam_pressure", m)
	if !ok {
		return 0, h, "steam_pressure: no good sample"
	}
	pAbs := steam.GaugeToAbsoluteMPa(p)
	var err error
	if b.Cfg.Output == "superheated_steam" {
		t, _, ok := b.input(d, "steam_temp", m)
		if !ok {
			return 0, h, "steam_temp: no good sample"
		}
		h.steam, err = steam.SteamEnthalpy(pAbs, t)
	} else {
		h.steam, err = steam.SaturatedSteamEnthalpy(pAbs)
	}
	if err != nil {
		return 0, h, "steam enthalpy: " + err.Error()
	}
	fw := math.NaN()
	if v, _, ok := b.input(d, "feedwater_temp", m); ok {
		fw = v
	} else if b.Cfg.Points.FeedwaterTemp == nil && b.Cfg.FeedwaterC != nil {
		fw = *b.Cfg.FeedwaterC
	} else {
		return 0, h, "feedwater_temp: no good sample"
	}
	if h.feed, err = steam.WaterEnthalpy(pAbs, fw); err != nil {
		return 0, h, "feedwater enthalpy: " + err.Error()
	}
	if h.blowdown, err = steam.SaturatedWaterEnthalpy(pAbs); err != nil {
		return 0, h, "blowdown enthalpy: " + err.Error()
	}
	return h.steam - h.feed, h, ""
}

func (b *Boiler) indirect(d Data, m time.Time, r *Result, steamT, heatOut, lhv float64) {
	var missing []string
	o2, _, ok := b.input(d, "o2", m)
	if !ok {
		missing = append(missing, "o2")
	} else if a, err := efficiency.ExcessAir(o2); err == nil {
		r.Alpha, r.AlphaN = a, 1
	}
	exh, _, ok := b.input(d, "exhaust_temp", m)
	if !ok {
		missing = append(missing, "exhaust_temp")
	}
	co := 0.0
	if b.Cfg.Points.CO != nil {
		if co, _, ok = b.input(d, "co", m); !ok {
			missing = append(missing, "co")
		}
	}
	cold := math.NaN()
	if b.Cfg.Points.ColdAirTemp != nil {
		if cold, _, ok = b.input(d, "cold_air_temp", m); !ok {
			missing = append(missing, "cold_air_temp")
		}
	} else {
		cold = *b.Cfg.ColdAirC
	}
	carbon, okC := b.carbon(m)
	if !okC {
		missing = append(missing, "refuse carbon lab value")
	}
	if math.IsNaN(lhv) {
		missing = append(missing, "coal LHV")
	}
	if len(missing) > 0 {
		r.Reasons = append(r.Reasons, "indirect: no good "+strings.Join(missing, ", "))
		return
	}
	l := b.Cfg.Losses
	res, err := efficiency.Indirect(efficiency.IndirectInput{
		Coal: efficiency.Coal{LHV: lhv, AshPct: b.Cfg.Coal.Ash},
		Coef: efficiency.Coefficients{M: l.M, N: l.N, Q3Coef: l.Q3Coef, Q3Simple: !l.Q3Full(),
			CarbonHeat: l.CarbonHeat, SlagHeat: l.SlagHeat},
		O2Pct: o2, COppm: co, ExhaustC: exh, ColdAirC: cold,
		SlagFraction: l.SlagFraction, SlagCarbonPct: carbon.Slag,
		FlyAshFraction: l.FlyAshFraction, FlyAshCarbonPct: carbon.FlyAsh,
		SiftingsFraction: l.SiftingsFraction, SiftingsCarbonPct: carbon.Siftings,
		Q5Rated: b.q5, RatedLoad: b.Cfg.RatedSteam, ActualLoad: steamT * 60,
	})
	if err != nil {
		r.Reasons = append(r.Reasons, "indirect: "+err.Error())
		return
	}
	// Weight: the fuel heat the indirect method implies; without
	// enthalpies, the steam mass stands in (same weight shape).
	out := heatOut
	if out == 0 {
		out = steamT * 1000
	}
	w := out / (res.Efficiency / 100)
	ls := res.Losses
	r.Indirect = 1
	r.W = w
	r.WQ = [5]float64{w * ls.Q2, w * ls.Q3, w * ls.Q4, w * ls.Q5, w * ls.Q6}
}

// finish turns sums into values for a window.
func (b *Boiler) finish(r *Result) {
	r.HasDirect, r.HasIndirect, r.HasGrade = false, false, false
	need := b.cov * float64(r.Expected)
	if r.Direct > 0 && float64(r.Direct+r.Standby) >= need-1e-9 && r.HeatIn > 0 {
		r.HasDirect, r.DirectPct = true, 100*r.HeatOut/r.HeatIn
	}
	if r.Indirect > 0 && float64(r.Indirect+r.Standby) >= need-1e-9 && r.W > 0 {
		var sum float64
		for i := range r.Q {
			r.Q[i] = r.WQ[i] / r.W
			sum += r.Q[i]
		}
		r.HasIndirect, r.IndirectPct = true, 100-sum
	}
	if r.Period != Minute {
		r.Reasons = nil
		if r.Standby < r.Expected {
			if !r.HasDirect {
				r.Reasons = append(r.Reasons, fmt.Sprintf("direct: %d of %d minutes have a value, %.0f %% needed", r.Direct+r.Standby, r.Expected, 100*b.cov))
			}
			if !r.HasIndirect {
				r.Reasons = append(r.Reasons, fmt.Sprintf("indirect: %d of %d minutes have a value, %.0f %% needed", r.Indirect+r.Standby, r.Expected, 100*b.cov))
			}
		}
	}
	if v, ok := r.Value(b.Cfg.Method); ok {
		r.Grade, r.HasGrade = b.Limit.Grade(v), true
	}
	b.finishRated(r)
}

// ratedHour says whether an hour with a value counts as a rated-load hour:
// its mean load is at least the boiler's rated_load_share.
func (b *Boiler) ratedHour(r *Result) bool {
	return r.LoadN > 0 && b.ratedLoad(r.Load/float64(r.LoadN))
}

// ratedLoad says whether a mean load (share of rated output) is at least
// the boiler's rated_load_share. The tolerance is far above float noise
// (a load stored in % and divided by 100 again decides the same way) and
// far below any meaningful load difference.
func (b *Boiler) ratedLoad(load float64) bool {
	return load >= b.Cfg.RatedLoadShare-1e-12
}

// finishRated sets an hour's rated-load sums (it is one rated hour, or
// none), which fold into its day's and those into its month's like every
// other sum (and are stored and restored with them), and gives a day or a
// month its rated-load efficiency from them.
func (b *Boiler) finishRated(r *Result) {
	switch r.Period {
	case Hour:
		r.RatedHours, r.RatedOut, r.RatedIn = 0, 0, 0
		v, ok := r.Value(b.Cfg.Method)
		if !ok || !b.ratedHour(r) {
			return
		}
		if b.Cfg.Method == "indirect" {
			r.RatedHours, r.RatedOut, r.RatedIn = 1, r.W*v/100, r.W
		} else {
			r.RatedHours, r.RatedOut, r.RatedIn = 1, r.HeatOut, r.HeatIn
		}
	case Day, Month:
		r.HasRated = r.RatedHours > 0 && r.RatedIn > 0
		r.RatedPct = 0
		if r.HasRated {
			r.RatedPct = 100 * r.RatedOut / r.RatedIn
		}
	}
}

// Advance computes every minute from Next up to (not including) to with
// the samples in d, which must hold the minutes' samples and, for counters,
// the readings around them. It appends minute and closed-period results
// and alerts to out.
func (b *Boiler) Advance(to time.Time, d Data, out *Output) {
	if b.next.IsZero() {
		return
	}
	b.feedCounters(d)
	for ; b.next.Before(to); b.next = b.next.Add(time.Minute) {
		m := b.next
		r := b.minute(d, m)
		b.finish(&r)
		out.Efficiency = append(out.Efficiency, r)
		b.minuteAlerts(&r, out)
		b.fold(r.Sums, m, m.Add(time.Minute), out)
	}
	if b.steamC != nil {
		b.steamC.Drop(b.next)
	}
	if b.coalC != nil {
		b.coalC.Drop(b.next)
	}
}
