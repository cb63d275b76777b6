package efficiency

import "math"

// Coal is the as-received analysis of the fuel that matters to the losses.
type Coal struct {
	// LHV is the lower heating value as received, Q_net,v,ar, in kJ/kg,
	// used as the input heat Q_r. Class II bituminous: 18,000–23,000
	// (design ≈ 20,000).
	LHV float64
	// AshPct is the ash content as received, A_ar, in %. Typical 20–30.
	AshPct float64
}

// Coefficients are the empirical constants of the simplified loss formulas.
// The reference tags every one of them [R] (textbook) or [S] (secondary
// source), so they come from configuration, never from code.
type Coefficients struct {
	// M and N are the coefficients of the simplified exhaust loss
	// q2 = (M + N·α)·(t_py − t_lk)/100·(1 − q4/100), dimensionless, per
	// 100 K of temperature difference. Bituminous coal (Q ≈ 20 MJ/kg):
	// M 0.4, N 3.6 (some texts 0.44 / 3.55); anthracite 0.25–0.3 / 3.55;
	// lignite ≈ 0.9 / 4.0.
	M, N float64
	// Q3Coef is the factor of the simplified CO loss q3 = Q3Coef·α·CO(%),
	// in % per (vol % CO). Typical 3.2 for coal.
	Q3Coef float64
	// Q3Simple drops the (1 − q4/100) factor from q3. By default (false)
	// q3 is multiplied by it, as the full q3 formula of GB/T 10180 does
	// (q3 = V_gy·(126.36·CO + …)·(100 − q4)/Q_r: the flue gas actually
	// produced per kg of fuel shrinks with the unburned carbon), and as q2
	// always is. The reference's simplified q3 and its worked example
	// (q3 = 0.26) leave it out (with it the example gives 0.24); set
	// Q3Simple only to reproduce such a calculation.
	Q3Simple bool
	// CarbonHeat is the heating value of unburned carbon in refuse, kJ/kg,
	// used by q4. 32,866 (industrial boilers, GB/T 10180 textbooks);
	// 33,727 in GB/T 10184 (utility boilers).
	CarbonHeat float64
	// SlagHeat is the sensible heat content (cθ)_lz of slag leaving the
	// grate, kJ/kg, used by q6. ≈ 560 at about 600 °C.
	SlagHeat float64
}

// IndirectInput are the inputs of the indirect (heat-loss) method.
//
// The refuse split a_i is the share of the fuel ash leaving as slag (lz),
// fly ash (fh) and grate siftings (lm); the shares must add up to 1. A
// stream that is not measured separately has fraction 0.
type IndirectInput struct {
	Coal Coal
	Coef Coefficients

	// O2Pct is the dry flue-gas O₂ at the boiler exit, vol %, in [0, 21).
	// Typical 7–11 for chain grates.
	O2Pct float64
	// COppm is the dry flue-gas CO at the boiler exit, ppm by volume.
	// Typical 100–1,000.
	COppm float64
	// ExhaustC is the exhaust (flue-gas exit) temperature t_py, °C.
	// Typical 150–180 with an economizer.
	ExhaustC float64
	// ColdAirC is the cold (ambient combustion) air temperature t_lk, °C.
	ColdAirC float64

	// SlagFraction is a_lz, the share of ash leaving as slag, 0–1
	// (chain grates 0.75–0.85). SlagCarbonPct is its combustible
	// content C_lz, % (typical 10–20).
	SlagFraction, SlagCarbonPct float64
	// FlyAshFraction is a_fh, 0–1; FlyAshCarbonPct its combustible
	// content C_fh, % (typical 15–35).
	FlyAshFraction, FlyAshCarbonPct float64
	// SiftingsFraction is a_lm, the share of grate siftings (漏煤), 0–1,
	// often 0; SiftingsCarbonPct their combustible content C_lm, %.
	SiftingsFraction, SiftingsCarbonPct float64

	// Q5Rated is the surface (radiation) loss at rated load, % — from the
	// boiler's test report, else a capacity table (10 t/h ≈ 1.7,
	// 20 t/h ≈ 1.3, 35 t/h ≈ 1.1).
	Q5Rated float64
	// RatedLoad and ActualLoad are the rated and current outputs in the
	// same unit (e.g. t/h of steam, or MW); q5 scales with their ratio.
	RatedLoad, ActualLoad float64
}

// Losses are the heat losses of the indirect method, each in % of Q_r.
type Losses struct {
	Q2 float64 // exhaust flue-gas sensible heat
	Q3 float64 // chemically incomplete combustion (CO)
	Q4 float64 // mechanically incomplete combustion (unburned carbon)
	Q5 float64 // surface (radiation and convection) loss
	Q6 float64 // sensible heat of slag
}

// Sum returns q2 + q3 + q4 + q5 + q6 in %.
func (l Losses) Sum() float64 { return l.Q2 + l.Q3 + l.Q4 + l.Q5 + l.Q6 }

// Result is the outcome of the indirect method.
type Result struct {
	Alpha      float64 // excess-air ratio α at the exhaust
	Losses     Losses  // q2 … q6, %
	Efficiency float64 // η₂ = 100 − Σq, %
}

// fractionSumTol is how far Σa_i may stray from 1: the split is estimated
// to two decimals at best, but a sum off by more than this is a
// configuration error, not rounding.
const fractionSumTol = 1e-3

func (in *IndirectInput) validate() error {
	var v validator
	v.positive("Coal.LHV", in.Coal.LHV)
	v.percentBelow100("Coal.AshPct", in.Coal.AshPct)

	c := in.Coef
	v.positive("Coef.M", c.M)
	v.positive("Coef.N", c.N)
	v.positive("Coef.Q3Coef", c.Q3Coef)
	v.positive("Coef.CarbonHeat", c.CarbonHeat)
	v.positive("Coef.SlagHeat", c.SlagHeat)

	if !finite(in.O2Pct) || in.O2Pct < 0 || in.O2Pct >= 21 {
		v.fail("O2Pct", in.O2Pct, "must be in [0, 21) vol %")
	}
	if !finite(in.COppm) || in.COppm < 0 || in.COppm > 1e6 {
		v.fail("COppm", in.COppm, "must be in [0, 1e6] ppm")
	}
	v.isFinite("ExhaustC", in.ExhaustC)
	v.isFinite("ColdAirC", in.ColdAirC)
	if finite(in.ExhaustC) && finite(in.ColdAirC) && in.ExhaustC < in.ColdAirC {
		// Flue gas colder than the combustion air would make q2
		// negative; it means swapped or failed sensors.
		v.fail("ExhaustC", in.ExhaustC, "must not be below ColdAirC")
	}

	v.fraction("SlagFraction", in.SlagFraction)
	v.fraction("FlyAshFraction", in.FlyAshFraction)
	v.fraction("SiftingsFraction", in.SiftingsFraction)
	v.percentBelow100("SlagCarbonPct", in.SlagCarbonPct)
	v.percentBelow100("FlyAshCarbonPct", in.FlyAshCarbonPct)
	v.percentBelow100("SiftingsCarbonPct", in.SiftingsCarbonPct)
	if sum := in.SlagFraction + in.FlyAshFraction + in.SiftingsFraction; finite(sum) && math.Abs(sum-1) > fractionSumTol {
		v.fail("SlagFraction+FlyAshFraction+SiftingsFraction", sum, "the ash split must add up to 1")
	}

	v.positive("Q5Rated", in.Q5Rated)
	v.positive("RatedLoad", in.RatedLoad)
	v.positive("ActualLoad", in.ActualLoad)
	return v.err()
}

// Indirect computes the boiler efficiency by the indirect (heat-loss)
// method, η₂ = 100 − (q2 + q3 + q4 + q5 + q6), with the simplified loss
// formulas used in operating tests:
//
//	α  = 21/(21 − O₂)
//	q4 = CarbonHeat·(A_ar/100)·Σ aᵢ·Cᵢ/(100 − Cᵢ) / Q_r × 100
//	q2 = (M + N·α)·(t_py − t_lk)/100 · (1 − q4/100)
//	q3 = Q3Coef·α·CO(%) · (1 − q4/100)   [without the factor if Coef.Q3Simple]
//	q5 = Q5Rated·RatedLoad/ActualLoad
//	q6 = A_ar·a_lz·(cθ)_lz / [Q_r·(100 − C_lz)] × 100
//
// It returns an error naming every invalid input, or if the losses add up
// to 100 % or more.
func Indirect(in IndirectInput) (Result, error) {
	if err := in.validate(); err != nil {
		return Result{}, err
	}
	alpha, err := ExcessAir(in.O2Pct)
	if err != nil {
		return Result{}, err
	}
	q := in.Coal.LHV
	a := in.Coal.AshPct

	// Each refuse stream's unburned carbon per kg of ash is C/(100 − C).
	refuse := in.SlagFraction*in.SlagCarbonPct/(100-in.SlagCarbonPct) +
		in.FlyAshFraction*in.FlyAshCarbonPct/(100-in.FlyAshCarbonPct) +
		in.SiftingsFraction*in.SiftingsCarbonPct/(100-in.SiftingsCarbonPct)
	q4 := in.Coef.CarbonHeat * (a / 100) * refuse / q * 100

	// Unburned carbon produces no flue gas, so the gas volume per kg of
	// fuel, and with it q2 and q3, shrinks by (1 − q4/100).
	burnt := 1 - q4/100
	q2 := (in.Coef.M + in.Coef.N*alpha) * (in.ExhaustC - in.ColdAirC) / 100 * burnt

	coPct := in.COppm / 1e4
	q3 := in.Coef.Q3Coef * alpha * coPct
	if !in.Coef.Q3Simple {
		q3 *= burnt
	}

	q5 := in.Q5Rated * in.RatedLoad / in.ActualLoad

	q6 := a * in.SlagFraction * in.Coef.SlagHeat / (q * (100 - in.SlagCarbonPct)) * 100

	l := Losses{Q2: q2, Q3: q3, Q4: q4, Q5: q5, Q6: q6}
	eta := 100 - l.Sum()
	if !finite(eta) || eta <= 0 {
		return Result{}, &InputError{Input: "losses q2+q3+q4+q5+q6", Value: l.Sum(),
			Reason: "the losses add up to 100 % or more; check the inputs"}
	}
	return Result{Alpha: alpha, Losses: l, Efficiency: eta}, nil
}
