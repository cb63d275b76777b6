package energy

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// BenchmarkDay is the engine's cost for one simulated day of a large site:
// 100 boilers (7 inputs sampled every 20 s) and 2,000 meters (read every
// minute; coal, electricity, steam by enthalpy, heat, gas, water), at
// 1-minute resolution with every aggregate. One op is one day; CPU time per
// day is its ns/op. Sample generation is excluded from the timing.
func BenchmarkDay(b *testing.B) {
	const nBoilers, nMeters = 100, 2000
	var bs, ms strings.Builder
	for i := range nBoilers {
		fmt.Fprintf(&bs, boilerYAML, fmt.Sprintf("b%d", i))
	}
	types := []string{
		"energy_type: coal, unit: t, lhv_from: b0",
		"energy_type: electricity, unit: kWh",
		"energy_type: steam, unit: t, steam: {pressure: {device: b0, point: steam_pressure}, reference_c: 20}",
		"energy_type: heat, unit: GJ",
		"energy_type: natural_gas, unit: m3",
		"energy_type: water, unit: t",
	}
	for i := range nMeters {
		fmt.Fprintf(&ms, "\n    - {name: m%d, site: plant-t, device: m%d, point: total, interval: 1m, %s}", i, i, types[i%len(types)])
	}
	cfg := testConfig(b, "", bs.String(), ms.String())
	coal, _ := workedInputs(b)
	day := time.Date(2026, 1, 15, 0, 0, 0, 0, shanghai)

	// One hour of data at a time, generated outside the timer.
	gen := func(d Data, from time.Time) {
		for k := range d {
			d[k] = d[k][:0]
		}
		for i := range nBoilers {
			dev := fmt.Sprintf("b%d", i)
			for t := from; t.Before(from.Add(time.Hour)); t = t.Add(20 * time.Second) {
				w := math.Sin(float64(t.Unix()) / 3000)
				for p, v := range map[string]float64{"steam_flow": 8 + w, "steam_pressure": 1.0, "feedwater_temp": 20,
					"coal_feed": coal * (8 + w) / 10, "o2": 8 + w, "co": 400, "exhaust_temp": 160 + 5*w} {
					k := Key{dev, p}
					d[k] = append(d[k], Sample{T: t, V: v})
				}
			}
		}
		for i := range nMeters {
			k := Key{fmt.Sprintf("m%d", i), "total"}
			for t := from; t.Before(from.Add(time.Hour)); t = t.Add(time.Minute) {
				d[k] = append(d[k], Sample{T: t, V: 1000 + float64(i%7+1)*t.Sub(day).Hours()})
			}
		}
	}
	b.ReportAllocs()
	var minutes int
	for b.Loop() {
		b.StopTimer()
		e, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		for _, x := range e.Boilers {
			x.Start(day)
		}
		for _, m := range e.Meters {
			m.Start(day)
		}
		d := Data{}
		for h := range 24 {
			from := day.Add(time.Duration(h) * time.Hour)
			gen(d, from)
			b.StartTimer()
			var out Output
			for _, x := range e.Boilers {
				x.Advance(from.Add(time.Hour), d, &out)
			}
			for _, m := range e.Meters {
				m.Advance(from.Add(time.Hour), d, &out)
			}
			e.Relate(&out)
			b.StopTimer()
			minutes += len(out.Efficiency)
		}
		b.StartTimer() // b.Loop must not find the timer stopped
	}
	if minutes == 0 {
		b.Fatal("nothing computed")
	}
}
