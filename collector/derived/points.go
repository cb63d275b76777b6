package derived

import (
	"strings"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/boilerwatch/boilerwatch/collector/energy"
)

// Measurements written by the engine.
const (
	MeasEfficiency = "boiler_efficiency"
	MeasEnergy     = "energy"
	MeasIntensity  = "energy_intensity"
	MeasQuality    = "data_quality"
	MeasEvents     = "events"
	MeasProgress   = "engine_progress"
)

// completenessFlag is the national online-monitoring threshold (uploaded /
// expected ≥ 90 %), [V] per the domain reference §4.
const completenessFlag = 90.0

// Points turns an engine output into InfluxDB points. Each point's series
// and timestamp are fixed by its window, so recomputing a window overwrites
// it: the same window is the same point.
func Points(out *energy.Output) []*write.Point {
	var pts []*write.Point
	for i := range out.Efficiency {
		pts = append(pts, efficiencyPoints(&out.Efficiency[i])...)
	}
	for i := range out.Energy {
		pts = append(pts, energyPoints(&out.Energy[i])...)
	}
	for _, in := range out.Intensity {
		p := write.NewPointWithMeasurement(MeasIntensity).AddTag("site", in.Site).AddTag("boiler", in.Boiler).
			AddTag("period", string(in.Period)).SetTime(in.Start).
			AddField("kgce", in.Kgce).AddField("product", in.Product).AddField("product_unit", in.ProductUnit)
		if in.HasValue {
			p.AddField("kgce_per_unit", in.KgcePerProductUnit)
		}
		pts = append(pts, p)
	}
	return pts
}

func efficiencyPoints(r *energy.Result) []*write.Point {
	var pts []*write.Point
	standbyOnly := r.Standby == r.Minutes && r.Minutes > 0
	if r.HasDirect || r.HasIndirect || r.Period != energy.Minute || standbyOnly {
		p := write.NewPointWithMeasurement(MeasEfficiency).AddTag("site", r.Site).AddTag("boiler", r.Boiler).
			AddTag("period", string(r.Period)).SetTime(r.Start).
			AddField("samples", int64(r.Samples)).AddField("limit", r.Limit).
			AddField("minutes", int64(r.Minutes)).AddField("steam_t", r.SteamT).
			AddField("coverage", 100*float64(r.Direct+r.Standby)/float64(max(r.Expected, 1)))
		if r.LoadN > 0 {
			p.AddField("load", 100*r.Load/float64(r.LoadN))
		}
		if r.ExhN > 0 {
			p.AddField("exhaust", r.Exh/float64(r.ExhN))
		}
		if r.AlphaN > 0 {
			p.AddField("alpha", r.Alpha/float64(r.AlphaN))
		}
		if r.HasDirect {
			p.AddField("direct", r.DirectPct).AddField("heat_out_gj", r.HeatOut/1e6).
				AddField("heat_in_gj", r.HeatIn/1e6).AddField("coal_t", r.CoalT)
		}
		if r.HasIndirect {
			p.AddField("indirect", r.IndirectPct)
			for i, name := range []string{"q2", "q3", "q4", "q5", "q6"} {
				p.AddField(name, r.Q[i])
			}
		}
		if r.HasGrade {
			p.AddField("grade", int64(r.Grade))
		}
		switch r.Period {
		case energy.Hour, energy.Day, energy.Month:
			// The limit is for rated-load tests: an hour's value is
			// compared with it as an operating indication, and
			// rated_hours (an hour's: 1 if it counts as a rated-load
			// hour) and, for days and months, the efficiency of the
			// boiler's method over those hours are the closer
			// comparison. Zero included, so a window computed again
			// keeps no stale count.
			p.AddField("rated_hours", int64(r.RatedHours))
			if r.Period != energy.Hour && r.HasRated {
				p.AddField("rated_pct", r.RatedPct).AddField("rated_out_gj", r.RatedOut/1e6).
					AddField("rated_in_gj", r.RatedIn/1e6)
			}
		}
		if standbyOnly {
			p.AddField("standby", true)
		}
		pts = append(pts, p)
	}
	if len(r.Reasons) > 0 && !standbyOnly {
		kind := "efficiency_inputs"
		if r.Period != energy.Minute {
			kind = "coverage"
		}
		q := write.NewPointWithMeasurement(MeasQuality).AddTag("site", r.Site).AddTag("boiler", r.Boiler).
			AddTag("period", string(r.Period)).AddTag("kind", kind).SetTime(r.Start).
			AddField("reason", strings.Join(r.Reasons, "; ")).
			AddField("direct_ok", r.HasDirect).AddField("indirect_ok", r.HasIndirect)
		pts = append(pts, q)
	}
	return pts
}

func energyPoints(r *energy.MeterResult) []*write.Point {
	var pts []*write.Point
	// A window no reading spans and no delta landed in has no consumption
	// to report: it is missing data (see completeness), not zero.
	if r.Covered > 0 || r.Native != 0 || r.Resets > 0 || r.Gaps > 0 || r.Wraps > 0 || r.Suspect > 0 {
		p := write.NewPointWithMeasurement(MeasEnergy).AddTag("site", r.Site).AddTag("meter", r.Meter).
			AddTag("energy_type", r.EnergyType).AddTag("period", string(r.Period)).SetTime(r.Start).
			AddField("native", r.Native).AddField("unit", r.Unit).AddField("kgce", r.Kgce).
			AddField("resets", int64(r.Resets)).AddField("gaps", int64(r.Gaps)).
			// Counter rollovers booked, and readings whose delta the
			// auditor must look at (a drop no plausible wrap explains).
			AddField("wraps", int64(r.Wraps)).AddField("suspect", int64(r.Suspect)).
			AddField("coverage", 100*r.Covered/float64(max(r.Minutes, 1)))
		if r.HasPrimary {
			p.AddField("kgce_primary", r.KgcePrimary)
		}
		// Always, zero included: a window computed again (late data)
		// must not keep a count it no longer has.
		p.AddField("fallback_minutes", int64(r.Fallback))
		// Estimated is never silent: the share of the window's minutes
		// whose kgce is an estimate, and by which substitute.
		p.AddField("coefficient_minutes", int64(r.FallbackCoef)).AddField("last_known_minutes", int64(r.LastKnown())).
			AddField("estimated", r.EstimatedShare())
		pts = append(pts, p)
	}
	if r.Period == energy.Day {
		c := r.Completeness()
		pts = append(pts, write.NewPointWithMeasurement(MeasQuality).AddTag("site", r.Site).AddTag("meter", r.Meter).
			AddTag("period", string(r.Period)).AddTag("kind", "completeness").SetTime(r.Start).
			AddField("received", int64(r.Received)).AddField("expected", r.Expected).
			AddField("completeness", c).AddField("flagged", c < completenessFlag).
			AddField("estimated", r.EstimatedShare()))
	}
	return pts
}
