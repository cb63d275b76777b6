// Package efficiency computes the thermal efficiency of coal-fired
// industrial boilers in the style of GB/T 10180 (Chinese industrial-boiler
// thermal performance test code): the direct method (正平衡, useful heat
// over fuel heat) and the indirect method (反平衡, 100 minus the losses
// q2 … q6), plus the excess-air ratio from flue-gas O₂ and the coal feed
// implied by a steam output.
//
// The package is formulas only: no I/O, no configuration loading, no steam
// tables. Enthalpies are inputs in kJ/kg; compute them with package
// [github.com/boilerwatch/boilerwatch/collector/steam].
//
// All heat values use the lower heating value of the fuel as received
// (Q_net,v,ar), as Chinese standards do; the input heat Q_r is taken equal to
// it, neglecting fuel sensible heat and external air pre-heat. Losses and
// efficiencies are in percent of Q_r.
//
// Every empirical coefficient (q2's m and n, q3's factor, the heating value
// of carbon, the slag heat content, the rated surface loss) is a field of
// the input, because the only sources available for them are textbooks and
// secondary transcriptions, not the paywalled standard: they belong in
// configuration, with the boiler's own test report taking precedence.
//
// Invalid inputs (NaN, ±Inf, negative where impossible, out of range, or a
// required field left at zero) produce an error that names the input and
// matches [ErrInvalidInput]; no function returns 0 as a placeholder.
package efficiency

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalidInput is matched (errors.Is) by every input-validation error of
// this package.
var ErrInvalidInput = errors.New("invalid input")

// InputError reports one invalid input.
type InputError struct {
	Input  string  // Go name of the input, e.g. "Coal.LHV" or "o2Pct"
	Value  float64 // the value given
	Reason string  // what was expected
}

func (e *InputError) Error() string {
	return fmt.Sprintf("efficiency: %v: %s = %g: %s", ErrInvalidInput, e.Input, e.Value, e.Reason)
}

// Unwrap lets errors.Is(err, ErrInvalidInput) succeed.
func (e *InputError) Unwrap() error { return ErrInvalidInput }

// validator collects every invalid input of one call, so that a
// misconfigured boiler is reported completely in one pass rather than one
// field per attempt.
type validator struct{ errs []error }

func (v *validator) fail(name string, x float64, reason string) {
	v.errs = append(v.errs, &InputError{Input: name, Value: x, Reason: reason})
}

func (v *validator) err() error { return errors.Join(v.errs...) }

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// positive requires a finite x > 0; a zero is reported as missing because
// an unset struct field is zero.
func (v *validator) positive(name string, x float64) {
	switch {
	case !finite(x):
		v.fail(name, x, "must be a finite number > 0")
	case x == 0:
		v.fail(name, x, "missing: must be > 0")
	case x < 0:
		v.fail(name, x, "must be > 0")
	}
}

func (v *validator) nonNegative(name string, x float64) {
	if !finite(x) || x < 0 {
		v.fail(name, x, "must be a finite number ≥ 0")
	}
}

func (v *validator) isFinite(name string, x float64) {
	if !finite(x) {
		v.fail(name, x, "must be a finite number")
	}
}

// percentBelow100 checks 0 ≤ x < 100: a carbon or ash content of 100 % would
// divide by zero in q4/q6 and is physically impossible.
func (v *validator) percentBelow100(name string, x float64) {
	if !finite(x) || x < 0 || x >= 100 {
		v.fail(name, x, "must be in [0, 100) %")
	}
}

func (v *validator) fraction(name string, x float64) {
	if !finite(x) || x < 0 || x > 1 {
		v.fail(name, x, "must be a fraction in [0, 1]")
	}
}

// ExcessAir returns the excess-air ratio α = 21/(21 − O₂) from the dry flue
// gas O₂ content in vol % (complete-combustion approximation). O₂ must be
// in [0, 21): at 21 % the flue gas is air and α is infinite.
func ExcessAir(o2Pct float64) (float64, error) {
	if !finite(o2Pct) || o2Pct < 0 || o2Pct >= 21 {
		return math.NaN(), &InputError{Input: "o2Pct", Value: o2Pct, Reason: "must be in [0, 21) vol %"}
	}
	return 21 / (21 - o2Pct), nil
}

// CoalFlow returns the coal feed B implied by a steam (or hot-water) output:
// B = D·Δh / (η/100 · Q_net). steamFlow D and the result are in the same
// mass-per-time unit (t/h in, t/h out; kg/h in, kg/h out); deltaH is the
// enthalpy rise of the working fluid in kJ/kg, efficiencyPct the boiler
// efficiency in percent (e.g. 81.6) and lhv the coal's Q_net,v,ar in kJ/kg.
func CoalFlow(steamFlow, deltaH, efficiencyPct, lhv float64) (float64, error) {
	var v validator
	v.positive("steamFlow", steamFlow)
	v.positive("deltaH", deltaH)
	v.positive("efficiencyPct", efficiencyPct)
	if finite(efficiencyPct) && efficiencyPct > 0 && efficiencyPct <= 1 {
		// No boiler is below 1 % efficient; this is a fraction passed
		// where a percentage was expected, which would give 100× the coal.
		v.fail("efficiencyPct", efficiencyPct, "must be a percentage (e.g. 81.6), not a fraction")
	}
	v.positive("lhv", lhv)
	if err := v.err(); err != nil {
		return math.NaN(), err
	}
	return steamFlow * deltaH / (efficiencyPct / 100 * lhv), nil
}
