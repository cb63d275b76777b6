// Package model holds the physics behind the simulated devices: a coal-fired
// chain-grate boiler whose coal feed follows its steam output through its
// efficiency, and the electricity meter of its fans, which follows its load.
// Quantities are served by name; a profile point's quantity picks one.
package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/efficiency"
	"github.com/boilerwatch/boilerwatch/collector/steam"
)

// Source is a model whose quantities the simulator serves.
type Source interface {
	// Step advances the model to simulated time t.
	Step(t time.Time)
	// Quantities returns the current value of every quantity it serves:
	// float64 for measurements, bool for states.
	Quantities() map[string]any
}

// BoilerParams describe a boiler and its fuel ([R] values from the domain
// reference §6 as defaults; a scenario overrides them).
type BoilerParams struct {
	RatedSteam    float64 // t/h
	PressureGauge float64 // MPa(g), saturated steam
	FeedwaterC    float64 // °C
	ColdAirC      float64 // °C
	Coal          efficiency.Coal
	Coef          efficiency.Coefficients
	O2Pct         float64 // mean flue O2, %
	ExhaustC      float64 // mean exhaust temperature at 75 % load, °C
	COppm         float64 // mean CO, ppm
	SlagCarbonPct float64
	FlyCarbonPct  float64
	SlagFraction  float64
	Q5Rated       float64
	// FoulingKPerDay raises the exhaust temperature linearly over time.
	FoulingKPerDay float64
	// Load is the daily load cycle; the zero value keeps the default
	// (0.75 ± 0.15, peak at 15:00, within 50–100 %).
	Load DailyLoad
	// CoalChanges are dated changes of the coal's LHV (a new delivery);
	// Coal.LHV applies before the first.
	CoalChanges []CoalChange
}

// DefaultBoiler is a 10 t/h SZL chain grate burning class II bituminous coal.
func DefaultBoiler() BoilerParams {
	return BoilerParams{
		RatedSteam: 10, PressureGauge: 1.0, FeedwaterC: 20, ColdAirC: 20,
		Coal:  efficiency.Coal{LHV: 20000, AshPct: 23},
		Coef:  efficiency.Coefficients{M: 0.4, N: 3.6, Q3Coef: 3.2, CarbonHeat: 32866, SlagHeat: 560},
		O2Pct: 8, ExhaustC: 160, COppm: 400,
		SlagCarbonPct: 15, FlyCarbonPct: 25, SlagFraction: 0.8, Q5Rated: 1.7,
	}
}

// Boiler is the physical boiler. It is not safe for concurrent use; the
// simulator steps and reads it from one goroutine.
type Boiler struct {
	p     BoilerParams
	rng   *rand.Rand
	start time.Time
	last  time.Time

	// AR(1) noise states, so values wander like real signals.
	nLoad, nO2, nExh, nCO, nP float64

	load, steamFlow, pressure, steamTemp, o2, exhaust, co, coalFeed, eff float64
	steamTotal, coalTotal                                                float64
	deltaH                                                               float64
	lhv                                                                  float64 // coal in force, kJ/kg

	// next is the next grid point; truth, when enabled, accumulates the
	// current simulated minute and keeps the completed ones until taken.
	next      time.Time
	truthOn   bool
	cur       MinuteTruth
	completed []MinuteTruth
}

// grid is the simulated-time step of the boiler's physics: noise and state
// change only at start + k·grid, whatever the real-time ticks of the
// simulator, so a seed gives the same day at any acceleration, and between
// grid points the rates are constant, so the totals and the ground truth are
// exact integrals rather than depending on when the simulator happened to
// step.
const grid = 10 * time.Second

// MinuteTruth is what the boiler really did in one simulated minute
// (aligned to the minute), integrated exactly: the ground truth the
// collector's efficiency and energy accounting are checked against.
type MinuteTruth struct {
	Start   time.Time
	Seconds float64 // simulated seconds covered (60 except at the start)
	SteamT  float64 // steam produced, t
	CoalT   float64 // coal burnt, t
	// HeatOutKJ is D·(h'' − h_feedwater), FuelHeatKJ is B·LHV; their ratio
	// is the true efficiency over the minute.
	HeatOutKJ, FuelHeatKJ float64
	// Time means over the minute.
	ExhaustC, O2Pct, Load, LHV float64
}

// Efficiency is the minute's true efficiency, %.
func (m MinuteTruth) Efficiency() float64 { return 100 * m.HeatOutKJ / m.FuelHeatKJ }

// NewBoiler starts a boiler at simulated time start.
func NewBoiler(p BoilerParams, seed uint64, start time.Time) (*Boiler, error) {
	b := &Boiler{p: p, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), start: start, last: start, next: start.Add(grid)}
	b.update(start)
	if b.eff <= 0 {
		return nil, fmt.Errorf("boiler model: parameters give no efficiency")
	}
	return b, nil
}

// ar1 moves a noise state with time constant tau (seconds) and stddev sigma.
func (b *Boiler) ar1(x, dt, tau, sigma float64) float64 {
	a := math.Exp(-dt / tau)
	return a*x + sigma*math.Sqrt(1-a*a)*b.rng.NormFloat64()
}

// Step advances the boiler to t: through every grid point up to t, then
// integrating the totals to t with the rates in force.
func (b *Boiler) Step(t time.Time) {
	if !t.After(b.last) {
		return
	}
	for !b.next.After(t) {
		b.integrate(b.next)
		h := grid.Seconds()
		b.nLoad = b.ar1(b.nLoad, h, 600, 0.05)
		b.nO2 = b.ar1(b.nO2, h, 300, 0.6)
		b.nExh = b.ar1(b.nExh, h, 900, 3)
		b.nCO = b.ar1(b.nCO, h, 120, 80)
		b.nP = b.ar1(b.nP, h, 300, 0.03)
		b.update(b.next)
		b.next = b.next.Add(grid)
	}
	b.integrate(t)
}

// integrate advances the totals (and the truth) from last to t with the
// current rates, cutting at minute boundaries.
func (b *Boiler) integrate(t time.Time) {
	for b.last.Before(t) {
		mEnd := b.last.Truncate(time.Minute).Add(time.Minute)
		seg := t
		if mEnd.Before(t) {
			seg = mEnd
		}
		h := seg.Sub(b.last).Seconds()
		steamT, coalT := b.steamFlow*h/3600, b.coalFeed*h/3600
		b.steamTotal += steamT
		b.coalTotal += coalT
		if b.truthOn {
			c := &b.cur
			if c.Start.IsZero() {
				c.Start = b.last.Truncate(time.Minute)
			}
			c.Seconds += h
			c.SteamT += steamT
			c.CoalT += coalT
			c.HeatOutKJ += steamT * 1000 * b.deltaH
			c.FuelHeatKJ += coalT * 1000 * b.lhv
			c.ExhaustC += b.exhaust * h
			c.O2Pct += b.o2 * h
			c.Load += b.load * h
			c.LHV += b.lhv * h
		}
		b.last = seg
		if b.truthOn && seg.Equal(mEnd) {
			c := b.cur
			for _, x := range []*float64{&c.ExhaustC, &c.O2Pct, &c.Load, &c.LHV} {
				*x /= c.Seconds
			}
			b.completed = append(b.completed, c)
			b.cur = MinuteTruth{}
		}
	}
}

// RecordTruth makes the boiler keep its completed minutes for TakeTruth.
func (b *Boiler) RecordTruth() { b.truthOn = true }

// TakeTruth returns the minutes completed since the last call.
func (b *Boiler) TakeTruth() []MinuteTruth {
	out := b.completed
	b.completed = nil
	return out
}

func (b *Boiler) update(t time.Time) {
	hour := float64(t.Hour()) + float64(t.Minute())/60
	// Daily cycle: low at night, peak in the afternoon.
	if b.p.Load == (DailyLoad{}) {
		b.load = clamp(0.75+0.15*math.Sin(2*math.Pi*(hour-9)/24)+b.nLoad, 0.5, 1.0)
	} else {
		b.load = clamp(b.p.Load.At(t)+b.nLoad, 0.2, 1.1)
	}
	coal := b.p.Coal
	coal.LHV = lhvAt(b.p.Coal.LHV, b.p.CoalChanges, t)
	b.lhv = coal.LHV
	b.steamFlow = b.load * b.p.RatedSteam
	b.pressure = clamp(b.p.PressureGauge+b.nP, 0.3, 1.6)
	pAbs := steam.GaugeToAbsoluteMPa(b.pressure)
	ts, err := steam.SaturationTemperatureC(pAbs)
	if err == nil {
		b.steamTemp = ts
	}
	hs, err1 := steam.SaturatedSteamEnthalpy(pAbs)
	hw, err2 := steam.WaterEnthalpy(pAbs, b.p.FeedwaterC)
	if err1 == nil && err2 == nil {
		b.deltaH = hs - hw
	}
	days := t.Sub(b.start).Hours() / 24
	b.o2 = clamp(b.p.O2Pct+2*(0.75-b.load)+b.nO2, 3, 14)
	b.exhaust = b.p.ExhaustC + 40*(b.load-0.75) + b.p.FoulingKPerDay*days + b.nExh
	b.co = clamp(b.p.COppm+b.nCO, 20, 3000)
	r, err := efficiency.Indirect(efficiency.IndirectInput{
		Coal: coal, Coef: b.p.Coef, O2Pct: b.o2, COppm: b.co, ExhaustC: b.exhaust, ColdAirC: b.p.ColdAirC,
		SlagFraction: b.p.SlagFraction, SlagCarbonPct: b.p.SlagCarbonPct,
		FlyAshFraction: 1 - b.p.SlagFraction, FlyAshCarbonPct: b.p.FlyCarbonPct,
		Q5Rated: b.p.Q5Rated, RatedLoad: b.p.RatedSteam, ActualLoad: b.steamFlow,
	})
	if err == nil {
		b.eff = r.Efficiency
	}
	if f, err := efficiency.CoalFlow(b.steamFlow, b.deltaH, b.eff, coal.LHV); err == nil {
		b.coalFeed = f
	}
}

// Load is the current load as a fraction of rated output.
func (b *Boiler) Load() float64 { return b.load }

// Efficiency is the boiler's true efficiency, %.
func (b *Boiler) Efficiency() float64 { return b.eff }

// Quantities implements Source.
func (b *Boiler) Quantities() map[string]any {
	return map[string]any{
		"steam_flow":     b.steamFlow,
		"steam_pressure": b.pressure,
		"steam_temp":     b.steamTemp,
		"feedwater_temp": b.p.FeedwaterC,
		"coal_feed":      b.coalFeed,
		"exhaust_temp":   b.exhaust,
		"o2":             b.o2,
		"co_ppm":         b.co,
		"load_pct":       100 * b.load,
		"steam_total":    b.steamTotal,
		"coal_total":     b.coalTotal,
		"efficiency":     b.eff,
		"running":        true,
	}
}

// FanMeter is the three-phase meter feeding a boiler's fans, grate and pumps:
// its power follows the boiler's load (≈ 5–8 kWh per t of steam).
type FanMeter struct {
	boiler *Boiler
	rng    *rand.Rand
	last   time.Time
	power  float64 // kW
	energy float64 // kWh
	volts  [3]float64
	nP     float64
}

// NewFanMeter attaches a meter to a boiler.
func NewFanMeter(b *Boiler, seed uint64, start time.Time) *FanMeter {
	m := &FanMeter{boiler: b, rng: rand.New(rand.NewPCG(seed, seed^0x5bd1e995)), last: start, energy: 12000}
	m.update()
	return m
}

// Step implements Source.
func (m *FanMeter) Step(t time.Time) {
	dt := t.Sub(m.last).Seconds()
	if dt <= 0 {
		return
	}
	m.energy += m.power * dt / 3600
	m.last = t
	m.nP = 0.9*m.nP + 0.5*m.rng.NormFloat64()
	m.update()
}

func (m *FanMeter) update() {
	// 6.5 kWh per t of steam at the boiler's current output.
	m.power = math.Max(5, 6.5*m.boiler.steamFlow+m.nP)
	for i := range m.volts {
		m.volts[i] = 230 + 1.5*m.rng.NormFloat64()
	}
}

// Quantities implements Source.
func (m *FanMeter) Quantities() map[string]any {
	const pf = 0.86
	q := map[string]any{"active_power": m.power, "energy_import": m.energy, "frequency": 50 + 0.02*m.rng.NormFloat64()}
	for i, ph := range []string{"a", "b", "c"} {
		q["voltage_"+ph] = m.volts[i]
		q["current_"+ph] = m.power * 1000 / 3 / m.volts[i] / pf
	}
	return q
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }
