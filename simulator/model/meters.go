package model

import (
	"math"
	"math/rand/v2"
	"time"
)

// DailyLoad is a load cycle over the day: Base ± Amplitude as a cosine
// that peaks at PeakHour (0–24, in the simulated time's location).
type DailyLoad struct {
	Base, Amplitude, PeakHour float64
}

// At is the load at t, as a fraction of rated output.
func (l DailyLoad) At(t time.Time) float64 {
	hour := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
	return l.Base + l.Amplitude*math.Cos(2*math.Pi*(hour-l.PeakHour)/24)
}

// CoalChange is a coal delivery: from From on, the coal has this LHV (kJ/kg).
type CoalChange struct {
	From time.Time
	LHV  float64
}

// lhvAt is the LHV in force at t: the last change not after t, else base.
// changes are in date order.
func lhvAt(base float64, changes []CoalChange, t time.Time) float64 {
	for _, c := range changes {
		if c.From.After(t) {
			break
		}
		base = c.LHV
	}
	return base
}

// wander moves an AR(1) noise state over dt seconds with time constant tau
// (s) and standard deviation sigma, so values drift like real signals.
func wander(rng *rand.Rand, x, dt, tau, sigma float64) float64 {
	a := math.Exp(-dt / tau)
	return a*x + sigma*math.Sqrt(1-a*a)*rng.NormFloat64()
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d)) }

// boilerValue reads one of a boiler's float quantities.
func boilerValue(q map[string]any, name string) float64 {
	v, _ := q[name].(float64)
	return v
}

// MeterParams place a meter: on a boiler, whose physics it then measures,
// or on its own, following Rated × Load. Zero Rated and Load take the
// class's defaults.
type MeterParams struct {
	Boiler *Boiler
	Rated  float64 // nominal flow or power in the unit of the main quantity
	Load   DailyLoad
	Seed   uint64
	Start  time.Time
}

func (p MeterParams) defaults(rated float64, load DailyLoad) MeterParams {
	if p.Rated == 0 {
		p.Rated = rated
	}
	if p.Load == (DailyLoad{}) {
		p.Load = load
	}
	return p
}

// BoilerInstruments are a boiler's own instruments as its PLC serves them:
// the boiler's quantities plus drum level, furnace draught, feedwater flow
// and the alarm state.
type BoilerInstruments struct {
	b              *Boiler
	rng            *rand.Rand
	last           time.Time
	level, furnace float64 // noise states, mm and Pa
}

// blowdown is the continuous blowdown, as a share of steam output: the
// feedwater that enters the drum and leaves as water, not steam.
const blowdown = 0.02

// NewBoilerInstruments serves b's quantities with its PLC's extras.
func NewBoilerInstruments(b *Boiler, seed uint64, start time.Time) *BoilerInstruments {
	return &BoilerInstruments{b: b, rng: newRand(seed), last: start}
}

// Step implements Source. The boiler itself is stepped by its owner.
func (m *BoilerInstruments) Step(t time.Time) {
	dt := t.Sub(m.last).Seconds()
	if dt <= 0 {
		return
	}
	m.last = t
	m.level = wander(m.rng, m.level, dt, 60, 15)
	m.furnace = wander(m.rng, m.furnace, dt, 20, 8)
}

// Quantities implements Source.
func (m *BoilerInstruments) Quantities() map[string]any {
	q := m.b.Quantities()
	q["feedwater_flow"] = boilerValue(q, "steam_flow") * (1 + blowdown)
	q["drum_level"] = m.level               // mm from normal water level
	q["furnace_pressure"] = -30 + m.furnace // Pa: balanced draught, slightly below ambient
	q["alarm"] = false
	return q
}

// ElectricityMeter is a three-phase meter. On a boiler it is the meter of
// its fans and pumps (a FanMeter), following the load; on its own it meters
// a consumer of Rated kW following Load.
type ElectricityMeter struct {
	fan    *FanMeter
	p      MeterParams
	rng    *rand.Rand
	last   time.Time
	nP     float64
	power  float64 // kW
	pf     float64
	energy float64 // kWh
	volts  [3]float64
	freq   float64
}

// fanPF is the power factor of the fan motors, as FanMeter assumes.
const fanPF = 0.86

// NewElectricityMeter places an electricity meter.
func NewElectricityMeter(p MeterParams) *ElectricityMeter {
	if p.Boiler != nil {
		return &ElectricityMeter{fan: NewFanMeter(p.Boiler, p.Seed, p.Start)}
	}
	p = p.defaults(200, DailyLoad{Base: 0.6, Amplitude: 0.3, PeakHour: 14})
	m := &ElectricityMeter{p: p, rng: newRand(p.Seed), last: p.Start}
	m.energy = 40000 + 20000*m.rng.Float64()
	m.update(p.Start)
	return m
}

// Step implements Source.
func (m *ElectricityMeter) Step(t time.Time) {
	if m.fan != nil {
		m.fan.Step(t)
		return
	}
	dt := t.Sub(m.last).Seconds()
	if dt <= 0 {
		return
	}
	m.energy += m.power * dt / 3600
	m.last = t
	m.nP = wander(m.rng, m.nP, dt, 120, 0.03)
	m.update(t)
}

func (m *ElectricityMeter) update(t time.Time) {
	m.power = math.Max(0, m.p.Rated*(m.p.Load.At(t)+m.nP))
	m.pf = clamp(0.9+0.02*m.rng.NormFloat64(), 0.7, 0.99)
	for i := range m.volts {
		m.volts[i] = 230 + 1.5*m.rng.NormFloat64()
	}
	m.freq = 50 + 0.02*m.rng.NormFloat64()
}

// Quantities implements Source.
func (m *ElectricityMeter) Quantities() map[string]any {
	if m.fan != nil {
		q := m.fan.Quantities()
		p := boilerValue(q, "active_power")
		q["power_factor"] = fanPF
		q["reactive_power"] = p * math.Tan(math.Acos(fanPF))
		q["energy_export"] = 0.0
		return q
	}
	q := map[string]any{
		"active_power":   m.power,
		"reactive_power": m.power * math.Tan(math.Acos(m.pf)),
		"power_factor":   m.pf,
		"frequency":      m.freq,
		"energy_import":  m.energy,
		"energy_export":  0.0, // a consumer exports nothing
	}
	for i, ph := range []string{"a", "b", "c"} {
		q["voltage_"+ph] = m.volts[i]
		q["current_"+ph] = m.power * 1000 / 3 / m.volts[i] / m.pf
	}
	return q
}

// SteamMeter is a steam flow meter with a totalizer and a heat computer
// (vortex or orifice with pressure and temperature compensation). On a
// boiler's header it reads that boiler's steam output exactly; on its own
// it follows Rated t/h × Load at 1.0 MPa(g).
type SteamMeter struct {
	b                    *Boiler
	p                    MeterParams
	rng                  *rand.Rand
	last                 time.Time
	nF, nP               float64
	flow, pressure, temp float64 // t/h, MPa(g), °C
	heatFlow             float64 // GJ/h
	total, heatTotal     float64 // t, GJ
}

// NewSteamMeter places a steam meter.
func NewSteamMeter(p MeterParams) *SteamMeter {
	p = p.defaults(10, DailyLoad{Base: 0.75, Amplitude: 0.15, PeakHour: 15})
	m := &SteamMeter{b: p.Boiler, p: p, rng: newRand(p.Seed), last: p.Start}
	// A meter installed years ago: its totals do not start at zero.
	m.total = 20000 + 10000*m.rng.Float64()
	m.heatTotal = 2.8 * m.total
	m.update(p.Start)
	return m
}

// Step implements Source.
func (m *SteamMeter) Step(t time.Time) {
	dt := t.Sub(m.last).Seconds()
	if dt <= 0 {
		return
	}
	m.total += m.flow * dt / 3600
	m.heatTotal += m.heatFlow * dt / 3600
	m.last = t
	m.nF = wander(m.rng, m.nF, dt, 600, 0.05)
	m.nP = wander(m.rng, m.nP, dt, 300, 0.03)
	m.update(t)
}

func (m *SteamMeter) update(t time.Time) {
	if m.b != nil {
		q := m.b.Quantities()
		m.flow, m.pressure, m.temp = boilerValue(q, "steam_flow"), boilerValue(q, "steam_pressure"), boilerValue(q, "steam_temp")
	} else {
		m.flow = math.Max(0, m.p.Rated*(m.p.Load.At(t)+m.nF))
		m.pressure = clamp(1.0+m.nP, 0.3, 1.6)
		m.temp, _, _ = saturation(m.pressure)
	}
	// Heat carried, relative to water at 0 °C: D × h (steamtable.go).
	_, _, h := saturation(m.pressure)
	m.heatFlow = m.flow * h / 1000 // t/h × kJ/kg = MJ/h; /1000: GJ/h
}

// Quantities implements Source.
func (m *SteamMeter) Quantities() map[string]any {
	return map[string]any{
		"steam_flow": m.flow, "steam_pressure": m.pressure, "steam_temp": m.temp,
		"steam_total": m.total, "heat_flow": m.heatFlow, "heat_total": m.heatTotal,
	}
}

// O2Analyzer is a zirconia flue-gas analyzer on a boiler: it reads the
// boiler's O2; its cell is held near 700 °C by its heater.
type O2Analyzer struct {
	b    *Boiler
	rng  *rand.Rand
	last time.Time
	cell float64
}

// NewO2Analyzer places an analyzer in b's flue.
func NewO2Analyzer(b *Boiler, seed uint64, start time.Time) *O2Analyzer {
	return &O2Analyzer{b: b, rng: newRand(seed), last: start}
}

// Step implements Source.
func (m *O2Analyzer) Step(t time.Time) {
	dt := t.Sub(m.last).Seconds()
	if dt <= 0 {
		return
	}
	m.last = t
	m.cell = wander(m.rng, m.cell, dt, 120, 1.5)
}

// Quantities implements Source.
func (m *O2Analyzer) Quantities() map[string]any {
	return map[string]any{"o2": boilerValue(m.b.Quantities(), "o2"), "cell_temp": 700 + m.cell}
}

// Water properties for the heat and water meters.
const (
	hotWaterDensity = 977.0 // kg/m³ near 70 °C
	waterCp         = 4.19  // kJ/(kg·K)
	coldDensity     = 998.0 // kg/m³ near 20 °C
)

// HeatMeter meters a hot-water heating loop: nearly constant circulation,
// with supply temperature and ΔT following the heat demand (Load; by
// default highest at 06:00, the cold morning).
type HeatMeter struct {
	p                   MeterParams
	rng                 *rand.Rand
	last                time.Time
	nF, nT              float64
	flow, supply, ret   float64 // m³/h, °C, °C
	power               float64 // kW
	heatTotal, volTotal float64 // GJ, m³
}

// NewHeatMeter places a heat meter with a model of its own.
func NewHeatMeter(p MeterParams) *HeatMeter {
	p = p.defaults(40, DailyLoad{Base: 0.7, Amplitude: 0.25, PeakHour: 6})
	m := &HeatMeter{p: p, rng: newRand(p.Seed), last: p.Start}
	m.heatTotal = 1000 + 500*m.rng.Float64()
	m.volTotal = 50000 + 20000*m.rng.Float64()
	m.update(p.Start)
	return m
}

// Step implements Source.
func (m *HeatMeter) Step(t time.Time) {
	dt := t.Sub(m.last).Seconds()
	if dt <= 0 {
		return
	}
	m.heatTotal += m.power * dt / 1e6 // kW × s = kJ
	m.volTotal += m.flow * dt / 3600
	m.last = t
	m.nF = wander(m.rng, m.nF, dt, 300, 0.5)
	m.nT = wander(m.rng, m.nT, dt, 600, 0.8)
	m.update(t)
}

func (m *HeatMeter) update(t time.Time) {
	demand := math.Max(0, m.p.Load.At(t))
	m.flow = math.Max(0, m.p.Rated*(0.85+0.15*demand)+m.nF)
	m.supply = 55 + 30*demand + m.nT
	m.ret = m.supply - 25*demand
	m.power = m.flow * hotWaterDensity / 3600 * waterCp * (m.supply - m.ret)
}

// Quantities implements Source.
func (m *HeatMeter) Quantities() map[string]any {
	return map[string]any{
		"supply_temp": m.supply, "return_temp": m.ret, "water_flow": m.flow,
		"heat_power": m.power, "heat_total": m.heatTotal, "water_total": m.volTotal,
	}
}

// Reference conditions of the simulated volume corrector: 101.325 kPa and
// 20 °C, the reference conditions Chinese natural-gas metering uses (GB/T
// 19205, from memory: a corrector set to 0 °C reads 7 % more). Gas is
// treated as ideal (compressibility ignored).
const (
	refPressureKPa = 101.325
	refTempK       = 293.15
)

// GasMeter is a natural-gas volume corrector: flow at line conditions
// (Rated m³/h × Load), its absolute pressure and temperature, and the flow
// converted to reference conditions.
type GasMeter struct {
	p                   MeterParams
	rng                 *rand.Rand
	last                time.Time
	nF, nP, nT          float64
	work, std           float64 // m³/h, Nm³/h
	pressure, temp      float64 // kPa absolute, °C
	workTotal, stdTotal float64
}

// NewGasMeter places a gas volume corrector with a model of its own.
func NewGasMeter(p MeterParams) *GasMeter {
	p = p.defaults(300, DailyLoad{Base: 0.6, Amplitude: 0.3, PeakHour: 10})
	m := &GasMeter{p: p, rng: newRand(p.Seed), last: p.Start}
	m.workTotal = 100000 + 50000*m.rng.Float64()
	m.stdTotal = 2.9 * m.workTotal
	m.update(p.Start)
	return m
}

// Step implements Source.
func (m *GasMeter) Step(t time.Time) {
	dt := t.Sub(m.last).Seconds()
	if dt <= 0 {
		return
	}
	m.workTotal += m.work * dt / 3600
	m.stdTotal += m.std * dt / 3600
	m.last = t
	m.nF = wander(m.rng, m.nF, dt, 300, 0.04)
	m.nP = wander(m.rng, m.nP, dt, 300, 3)
	m.nT = wander(m.rng, m.nT, dt, 900, 0.7)
	m.update(t)
}

func (m *GasMeter) update(t time.Time) {
	m.work = math.Max(0, m.p.Rated*(m.p.Load.At(t)+m.nF))
	m.pressure = 300 + m.nP // a medium-pressure line after its regulator
	hour := float64(t.Hour()) + float64(t.Minute())/60
	m.temp = 15 + 6*math.Cos(2*math.Pi*(hour-15)/24) + m.nT
	m.std = m.work * (m.pressure / refPressureKPa) * (refTempK / (273.15 + m.temp))
}

// Quantities implements Source.
func (m *GasMeter) Quantities() map[string]any {
	return map[string]any{
		"gas_flow_work": m.work, "gas_flow_std": m.std, "gas_pressure": m.pressure, "gas_temp": m.temp,
		"gas_total_work": m.workTotal, "gas_total_std": m.stdTotal,
	}
}

// WaterMeter meters water. On a boiler it is the feedwater meter (steam
// output plus blowdown); on its own it follows Rated m³/h × Load.
type WaterMeter struct {
	b     *Boiler
	p     MeterParams
	rng   *rand.Rand
	last  time.Time
	nF    float64
	flow  float64 // m³/h
	total float64 // m³
}

// NewWaterMeter places a water meter.
func NewWaterMeter(p MeterParams) *WaterMeter {
	p = p.defaults(10, DailyLoad{Base: 0.5, Amplitude: 0.4, PeakHour: 12})
	m := &WaterMeter{b: p.Boiler, p: p, rng: newRand(p.Seed), last: p.Start}
	m.total = 30000 + 10000*m.rng.Float64()
	m.update(p.Start)
	return m
}

// Step implements Source.
func (m *WaterMeter) Step(t time.Time) {
	dt := t.Sub(m.last).Seconds()
	if dt <= 0 {
		return
	}
	m.total += m.flow * dt / 3600
	m.last = t
	m.nF = wander(m.rng, m.nF, dt, 300, 0.05)
	m.update(t)
}

func (m *WaterMeter) update(t time.Time) {
	if m.b != nil {
		// t/h of feedwater at about 20 °C, in m³/h.
		m.flow = boilerValue(m.b.Quantities(), "steam_flow") * (1 + blowdown) * 1000 / coldDensity
		return
	}
	m.flow = math.Max(0, m.p.Rated*(m.p.Load.At(t)+m.nF))
}

// Quantities implements Source.
func (m *WaterMeter) Quantities() map[string]any {
	return map[string]any{"water_flow": m.flow, "water_total": m.total}
}

// Compile-time checks that every model is a Source.
var (
	_ Source = (*BoilerInstruments)(nil)
	_ Source = (*ElectricityMeter)(nil)
	_ Source = (*SteamMeter)(nil)
	_ Source = (*O2Analyzer)(nil)
	_ Source = (*HeatMeter)(nil)
	_ Source = (*GasMeter)(nil)
	_ Source = (*WaterMeter)(nil)
)
