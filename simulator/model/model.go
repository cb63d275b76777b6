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
)

// Source is a model whose quantities the simulator serves.
type Source interface {
	// Step advances the model to simulated time t.
	Step(t time.Time)
	// Quantities returns the current value of every quantity it serves:
	// float64 for measurements, bool for states.
	Quantities() map[string]any
}

// Coal is the fuel as received: its assayed LHV and its ultimate analysis
// (% by mass, as received; with AshPct and MoisturePct they add up to 100).
type Coal struct {
	LHV                 float64 // Q_net,v,ar, kJ/kg
	AshPct, MoisturePct float64
	C, H, O, N, S       float64
}

// BoilerParams describe a boiler and its fuel ([R] values from the domain
// reference §6 as defaults; a scenario overrides them). The boiler computes
// its own heat balance from them (see heatBalance): nothing here is a
// coefficient of the collector's simplified formulas.
type BoilerParams struct {
	RatedSteam    float64 // t/h
	PressureGauge float64 // MPa(g), saturated steam
	FeedwaterC    float64 // °C
	ColdAirC      float64 // °C
	Coal          Coal
	O2Pct         float64 // mean flue O2, %
	ExhaustC      float64 // mean exhaust temperature at 75 % load, °C
	COppm         float64 // mean CO, ppm
	SlagCarbonPct float64
	FlyCarbonPct  float64
	SlagFraction  float64
	// SurfaceLossKW is the heat the boiler's casing loses to its
	// surroundings, kW, about the same at any load (it follows the wall
	// temperatures, not the firing rate).
	SurfaceLossKW float64
	// SlagC is the temperature slag leaves the grate at, °C.
	SlagC float64
	// WetnessPct is the steam's wetness ω, %: water carried over from the
	// drum; BlowdownPct the continuous blowdown, % of the steam flow, which
	// leaves as saturated water.
	WetnessPct, BlowdownPct float64
	// FoulingKPerDay raises the exhaust temperature linearly over time.
	FoulingKPerDay float64
	// Load is the daily load cycle; the zero value keeps the default
	// (0.75 ± 0.15, peak at 15:00, within 50–100 %).
	Load DailyLoad
	// CoalChanges are dated changes of the coal's LHV (a new delivery);
	// Coal.LHV applies before the first.
	CoalChanges []CoalChange
	// Upsets are dated episodes of bad combustion: from From until To
	// (simulated time) the flue O2 and the exhaust temperature are raised
	// by their amounts (air leaking in, a draught fan's damper stuck open,
	// soot on the heating surfaces).
	Upsets []Upset
}

// Upset raises the flue O2 (percentage points) and the exhaust
// temperature (K) from From until To.
type Upset struct {
	From, To        time.Time
	O2Pct, ExhaustK float64
}

// DefaultBoiler is a 10 t/h SZL chain grate burning class II bituminous
// coal: C 52, H 3.5, O 7, N 1, S 0.5, moisture 13, ash 23 % (Mendeleev's
// formula gives Q_net ≈ 20.2 MJ/kg for it; the assayed 20,000 is used for
// the fuel heat). Its casing loses 160 kW (1.7 % of its rated input), its
// steam is 3 % wet and it blows down 2 % of the steam.
func DefaultBoiler() BoilerParams {
	return BoilerParams{
		RatedSteam: 10, PressureGauge: 1.0, FeedwaterC: 20, ColdAirC: 20,
		Coal:  Coal{LHV: 20000, AshPct: 23, MoisturePct: 13, C: 52, H: 3.5, O: 7, N: 1, S: 0.5},
		O2Pct: 8, ExhaustC: 160, COppm: 400,
		SlagCarbonPct: 15, FlyCarbonPct: 25, SlagFraction: 0.8,
		SurfaceLossKW: 160, SlagC: 600, WetnessPct: 3, BlowdownPct: blowdown * 100,
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
	usefulPerT                                                           float64 // heat taken up per t of steam, kJ/kg
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
	// HeatOutKJ is the heat the water took up, D·(h″ − r·ω/100 − h_fw) +
	// D_blowdown·(h′ − h_fw); FuelHeatKJ is B·LHV; their ratio is the true
	// efficiency over the minute.
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
	if !(b.eff > 0 && b.eff < 100) {
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
			c.HeatOutKJ += steamT * 1000 * b.usefulPerT
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
	ts, hw, hs := saturation(b.pressure)
	b.steamTemp = ts
	hfw := waterEnthalpy(b.p.FeedwaterC, b.pressure)
	// Per t of steam: the steam's heat less the latent heat its water
	// droplets never took up, plus the blowdown water heated to h′.
	b.usefulPerT = hs - (hs-hw)*b.p.WetnessPct/100 - hfw + b.p.BlowdownPct/100*(hw-hfw)
	days := t.Sub(b.start).Hours() / 24
	var upO2, upExh float64
	for _, u := range b.p.Upsets {
		if !t.Before(u.From) && t.Before(u.To) {
			upO2, upExh = upO2+u.O2Pct, upExh+u.ExhaustK
		}
	}
	b.o2 = clamp(b.p.O2Pct+2*(0.75-b.load)+b.nO2, 3, 14)
	if upO2 != 0 {
		b.o2 = clamp(b.o2+upO2, 3, 18)
	}
	b.exhaust = b.p.ExhaustC + 40*(b.load-0.75) + b.p.FoulingKPerDay*days + b.nExh + upExh
	b.co = clamp(b.p.COppm+b.nCO, 20, 3000)
	perKg := heatBalance(coal, b.p, b.o2, b.co, b.exhaust)
	// Fuel heat = useful heat + surface loss + the per-kg losses:
	// B·Q·(1 − Σq/100) = D·u + Q5, with Q5 in kJ/h.
	useful := b.steamFlow * 1000 * b.usefulPerT // kJ/h
	fuelHeat := (useful + b.p.SurfaceLossKW*3600) / (1 - perKg/100)
	b.eff = 100 * useful / fuelHeat
	b.coalFeed = fuelHeat / coal.LHV / 1000 // t/h
}

// heatBalance is the boiler's own loss model: the losses that scale with
// the fuel burnt (flue gas, CO, unburnt carbon, slag heat), in % of the
// fuel's LHV, computed from the coal's analysis and the flue gas's state
// by stoichiometry and mean specific heats, not from the simplified loss
// coefficients the collector uses.
func heatBalance(c Coal, p BoilerParams, o2Pct, coPPM, exhaustC float64) float64 {
	// Unburnt carbon: the refuse's combustibles, per kg of fuel.
	slag := c.AshPct / 100 * p.SlagFraction / (1 - p.SlagCarbonPct/100)     // kg slag
	fly := c.AshPct / 100 * (1 - p.SlagFraction) / (1 - p.FlyCarbonPct/100) // kg fly ash
	unburnt := slag*p.SlagCarbonPct/100 + fly*p.FlyCarbonPct/100            // kg C
	const carbonHeat = 32800                                                // kJ/kg, graphite burnt to CO₂
	q4 := unburnt * carbonHeat / c.LHV * 100
	// Burnt carbon, % of the fuel.
	cb := c.C - 100*unburnt
	// Stoichiometric air and combustion products, Nm³/kg (molar volume
	// 22.4 Nm³/kmol; air 21 % O₂).
	o2Need := (cb/12 + c.S/32 + c.H/4.032 - c.O/32) / 100 * 22.4 // Nm³ O₂
	v0 := o2Need / 0.21
	vRO2 := (cb/12 + c.S/32) / 100 * 22.4
	vN2 := 0.79*v0 + c.N/28/100*22.4
	// Excess air from the dry flue gas's O₂ share:
	// O₂ = 0.21(α − 1)V⁰ / (V_RO₂ + V_N₂ + 0.79(α − 1)V⁰ + 0.21(α − 1)V⁰).
	o := o2Pct / 100
	alpha := 1 + o*(vRO2+vN2)/(v0*(0.21-o))
	dry := vRO2 + vN2 + (alpha-1)*v0
	water := (c.H/2.016+c.MoisturePct/18.015)/100*22.4 + 0.0161*alpha*v0 // incl. the air's humidity (10 g/kg)
	// Mean specific heats from 0 °C, kJ/(Nm³·K), at the exhaust
	// temperature and at the cold-air temperature.
	gas := vRO2*cpMean(cpCO2, exhaustC) + (vN2+0.79*(alpha-1)*v0)*cpMean(cpN2, exhaustC) +
		0.21*(alpha-1)*v0*cpMean(cpO2, exhaustC) + water*cpMean(cpH2O, exhaustC)
	air := alpha * v0 * (cpMean(cpAir, p.ColdAirC) + 0.0161*cpMean(cpH2O, p.ColdAirC))
	q2 := (gas*exhaustC - air*p.ColdAirC) / c.LHV * 100
	// CO burns to CO₂ for 12,640 kJ/Nm³.
	q3 := dry * coPPM / 1e6 * 12640 / c.LHV * 100
	// Slag leaves hot: c ≈ 0.93 kJ/(kg·K) from 0 °C.
	q6 := slag * 0.93 * p.SlagC / c.LHV * 100
	return q2 + q3 + q4 + q6
}

// Mean specific heats of flue-gas components from 0 °C to t, kJ/(Nm³·K),
// at 0, 100, 200 and 300 °C (textbook gas tables).
var (
	cpCO2 = [4]float64{1.5998, 1.7003, 1.7873, 1.8627}
	cpN2  = [4]float64{1.2946, 1.2958, 1.2996, 1.3067}
	cpO2  = [4]float64{1.3059, 1.3176, 1.3352, 1.3561}
	cpH2O = [4]float64{1.4943, 1.5052, 1.5223, 1.5424}
	cpAir = [4]float64{1.2971, 1.3004, 1.3071, 1.3172}
)

func cpMean(tab [4]float64, t float64) float64 {
	i := int(clamp(math.Floor(t/100), 0, 2))
	f := (t - 100*float64(i)) / 100
	return tab[i] + f*(tab[i+1]-tab[i])
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
