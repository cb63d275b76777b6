// Package energy is the efficiency and energy engine's computation: boiler
// efficiency by the direct and indirect methods for each minute of sample
// time, counter accounting per meter in native units and kgce, their
// aggregation to 15-minute, hourly, daily and monthly windows aligned to
// local midnight, GB 24500-2020 classification and alert episodes.
//
// It does no I/O: it is given samples (Data) and returns results (Output),
// so it can be tested and benchmarked alone. Package derived runs it
// against InfluxDB.
package energy

import (
	"time"

	"github.com/boilerwatch/boilerwatch/collector/config"
)

// Output is what one Advance produced.
type Output struct {
	Efficiency []Result
	Energy     []MeterResult
	Intensity  []Intensity
	Events     []Event
	Ends       []End // alerted episodes that ended
}

// Intensity is a boiler's unit consumption over a window: the kgce of its
// energy meters per unit of its product meter (e.g. kgce per t of steam).
type Intensity struct {
	Site, Boiler       string
	Period             Period
	Start              time.Time
	Kgce, Product      float64
	ProductUnit        string
	HasValue           bool // Product > 0
	KgcePerProductUnit float64
}

// Engine is every boiler and meter of a configuration.
type Engine struct {
	Loc     *time.Location
	Boilers []*Boiler
	Meters  []*Meter

	pending map[intensityKey]*intensityAcc
}

type intensityKey struct {
	boiler string
	period Period
	start  int64 // Unix seconds: time.Time keys compare *Location too
}

type intensityAcc struct {
	seen    map[string]bool
	kgce    float64
	product float64
	unit    string
}

// New builds the engine of a validated configuration.
func New(cfg *config.Energy) (*Engine, error) {
	e := &Engine{Loc: cfg.Location, pending: map[intensityKey]*intensityAcc{}}
	for i := range cfg.Boilers {
		b, err := newBoiler(cfg, &cfg.Boilers[i])
		if err != nil {
			return nil, err
		}
		e.Boilers = append(e.Boilers, b)
	}
	for i := range cfg.Meters {
		m, err := newMeter(cfg, &cfg.Meters[i])
		if err != nil {
			return nil, err
		}
		e.Meters = append(e.Meters, m)
	}
	return e, nil
}

// Relate computes unit consumption from the meter results in out, once
// every meter a boiler's unit_consumption names has closed the same window
// (meters may be advanced at different times).
func (e *Engine) Relate(out *Output) {
	for _, r := range out.Energy {
		for _, b := range e.Boilers {
			u := b.Cfg.UnitConsumption
			if u == nil {
				continue
			}
			isProduct := r.Meter == u.Product
			isEnergy := false
			for _, n := range u.Energy {
				isEnergy = isEnergy || n == r.Meter
			}
			if !isProduct && !isEnergy {
				continue
			}
			k := intensityKey{b.Cfg.Name, r.Period, r.Start.Unix()}
			a := e.pending[k]
			if a == nil {
				a = &intensityAcc{seen: map[string]bool{}}
				e.pending[k] = a
			}
			if a.seen[r.Meter] {
				continue
			}
			a.seen[r.Meter] = true
			if isEnergy {
				a.kgce += r.Kgce
			}
			if isProduct {
				a.product, a.unit = r.Native, r.Unit
			}
			if len(a.seen) == len(u.Energy)+1 || (isProduct && isEnergy && len(a.seen) == len(u.Energy)) {
				in := Intensity{Site: b.Cfg.Site, Boiler: b.Cfg.Name, Period: r.Period, Start: r.Start,
					Kgce: a.kgce, Product: a.product, ProductUnit: a.unit}
				if a.product > 0 {
					in.HasValue, in.KgcePerProductUnit = true, a.kgce/a.product
				}
				out.Intensity = append(out.Intensity, in)
				delete(e.pending, k)
			}
		}
	}
	// A window some meter never closes (removed, never started) must not
	// pin memory forever.
	if len(e.pending) > 10000 {
		for k := range e.pending {
			if k.period == Quarter {
				delete(e.pending, k)
			}
		}
	}
}
