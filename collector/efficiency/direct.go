package efficiency

import (
	"fmt"
	"math"
)

// Output is the kind of heat a boiler delivers; it selects the useful-heat
// formula of the direct method.
type Output int

// Output kinds. The zero value is deliberately invalid so that a forgotten
// field is reported rather than defaulting to a formula.
const (
	SaturatedSteam   Output = iota + 1 // drum steam, possibly wet
	SuperheatedSteam                   // steam leaving a superheater
	HotWater                           // hot-water boiler
)

func (o Output) String() string {
	switch o {
	case SaturatedSteam:
		return "saturated steam"
	case SuperheatedSteam:
		return "superheated steam"
	case HotWater:
		return "hot water"
	}
	return fmt.Sprintf("Output(%d)", int(o))
}

// DirectInput are the inputs of the direct (input–output) method.
//
// Flows only need a common unit: Flow, BlowdownFlow and CoalFlow may all be
// t/h or all kg/h, since the efficiency is their ratio. Enthalpies are in
// kJ/kg (see package steam for computing them from pressure and
// temperature).
type DirectInput struct {
	Output Output

	// Flow is the steam flow D (steam boilers) or the water flow G
	// (hot-water boilers).
	Flow float64
	// OutEnthalpy is the enthalpy leaving the boiler: saturated steam
	// h_bq = h'' at drum pressure, superheated steam h_gr, or hot water
	// h_out, kJ/kg.
	OutEnthalpy float64
	// FeedEnthalpy is the feedwater (h_gs) or return-water (h_in)
	// enthalpy, kJ/kg.
	FeedEnthalpy float64

	// WetnessPct is the steam wetness ω, % (saturated steam only; 0 if
	// not measured). LatentHeat r = h'' − h' at drum pressure, kJ/kg, is
	// required when WetnessPct > 0.
	WetnessPct, LatentHeat float64

	// BlowdownFlow is the continuous blowdown D_ps (steam boilers only; 0
	// if none), and BlowdownEnthalpy h_ps its enthalpy, normally
	// saturated water h' at drum pressure, kJ/kg.
	BlowdownFlow, BlowdownEnthalpy float64

	// CoalFlow is the coal feed B, in the same unit as Flow.
	CoalFlow float64
	// LHV is the coal's Q_net,v,ar in kJ/kg, taken as the input heat Q_r.
	LHV float64
}

func (in *DirectInput) validate() error {
	var v validator
	in.validateFluid(&v)
	v.positive("CoalFlow", in.CoalFlow)
	v.positive("LHV", in.LHV)
	return v.err()
}

// validateFluid checks the working-fluid side: everything but CoalFlow
// and LHV.
func (in *DirectInput) validateFluid(v *validator) {
	switch in.Output {
	case SaturatedSteam, SuperheatedSteam, HotWater:
	default:
		v.fail("Output", float64(in.Output), "missing or unknown: must be SaturatedSteam, SuperheatedSteam or HotWater")
	}
	v.positive("Flow", in.Flow)
	v.isFinite("OutEnthalpy", in.OutEnthalpy)
	v.isFinite("FeedEnthalpy", in.FeedEnthalpy)
	if finite(in.OutEnthalpy) && finite(in.FeedEnthalpy) && in.OutEnthalpy <= in.FeedEnthalpy {
		v.fail("OutEnthalpy", in.OutEnthalpy, fmt.Sprintf("must exceed FeedEnthalpy (%g kJ/kg)", in.FeedEnthalpy))
	}

	if !finite(in.WetnessPct) || in.WetnessPct < 0 || in.WetnessPct >= 100 {
		v.fail("WetnessPct", in.WetnessPct, "must be in [0, 100) %")
	} else if in.WetnessPct > 0 {
		if in.Output != SaturatedSteam {
			v.fail("WetnessPct", in.WetnessPct, fmt.Sprintf("must be 0 for %v output", in.Output))
		} else {
			v.positive("LatentHeat", in.LatentHeat)
		}
	}

	v.nonNegative("BlowdownFlow", in.BlowdownFlow)
	if in.BlowdownFlow > 0 {
		if in.Output == HotWater {
			v.fail("BlowdownFlow", in.BlowdownFlow, "must be 0 for hot-water output (no drum blowdown)")
		}
		v.isFinite("BlowdownEnthalpy", in.BlowdownEnthalpy)
		if finite(in.BlowdownEnthalpy) && finite(in.FeedEnthalpy) && in.BlowdownEnthalpy < in.FeedEnthalpy {
			v.fail("BlowdownEnthalpy", in.BlowdownEnthalpy, fmt.Sprintf("must not be below FeedEnthalpy (%g kJ/kg)", in.FeedEnthalpy))
		}
	}
}

// Direct returns the boiler efficiency η₁ in % by the direct method:
//
//	saturated steam:   [D·(h_bq − h_gs − r·ω/100) + D_ps·(h_ps − h_gs)] / (B·Q_r) × 100
//	superheated steam: [D·(h_gr − h_gs) + D_ps·(h_ps − h_gs)] / (B·Q_r) × 100
//	hot water:         G·(h_out − h_in) / (B·Q_r) × 100
//
// The reference gives the superheated form as D·(h_gr − h_gs); the
// blowdown term is kept for it too because blowdown water carries heat the
// fuel supplied in either case, and it vanishes when BlowdownFlow is 0.
//
// The result is not capped at 100 %: a value above it means inconsistent
// meters (or an LHV basis with condensing heat) and is for the caller to
// flag, not for this function to hide.
func Direct(in DirectInput) (float64, error) {
	if err := in.validate(); err != nil {
		return math.NaN(), err
	}
	useful, err := UsefulHeat(in)
	if err != nil {
		return math.NaN(), err
	}
	eta := useful / (in.CoalFlow * in.LHV) * 100
	if !finite(eta) {
		return math.NaN(), &InputError{Input: "useful heat", Value: useful, Reason: "the flows overflow"}
	}
	return eta, nil
}

// UsefulHeat returns the numerator of [Direct], the heat the working
// fluid took up, in (unit of Flow) × kJ/kg (t/h × kJ/kg = MJ/h; t × kJ/kg
// = MJ):
//
//	saturated steam:   D·(h_bq − h_gs − r·ω/100) + D_ps·(h_ps − h_gs)
//	superheated steam: D·(h_gr − h_gs) + D_ps·(h_ps − h_gs)
//	hot water:         G·(h_out − h_in)
//
// Aggregating periods sum it (and B·Q_r) over minutes, so a period's
// direct efficiency uses exactly the per-minute formula. CoalFlow and LHV
// are not needed.
func UsefulHeat(in DirectInput) (float64, error) {
	var v validator
	in.validateFluid(&v)
	if err := v.err(); err != nil {
		return math.NaN(), err
	}
	dh := in.OutEnthalpy - in.FeedEnthalpy
	if in.Output == SaturatedSteam {
		// Wet steam carries ω % of its mass as water, which has not
		// received the latent heat r.
		dh -= in.LatentHeat * in.WetnessPct / 100
	}
	useful := in.Flow * dh
	if in.BlowdownFlow > 0 {
		useful += in.BlowdownFlow * (in.BlowdownEnthalpy - in.FeedEnthalpy)
	}
	if !finite(useful) || useful <= 0 {
		return math.NaN(), &InputError{Input: "useful heat", Value: useful,
			Reason: "must be positive and finite: is the wetness correction r·ω/100 larger than the enthalpy rise, or do the flows overflow?"}
	}
	return useful, nil
}
