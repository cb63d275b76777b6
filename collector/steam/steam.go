// Package steam computes thermodynamic properties of water and steam from
// the IAPWS Industrial Formulation 1997 (IAPWS-IF97, release R7-97(2012)).
//
// Only the parts an industrial boiler needs are implemented:
//
//   - Region 1, compressed (sub-cooled) water: [Region1].
//   - Region 2, superheated steam, main equation (not the metastable-vapour
//     variant): [Region2].
//   - Region 4, the saturation line: [SaturationPressure] and
//     [SaturationTemperature].
//   - The boundary between regions 2 and 3: [B23Pressure], [B23Temperature].
//
// Regions 3 (near-critical) and 5 (above 1073.15 K) are not implemented; a
// state that falls in them is reported as out of range.
//
// The low-level functions use IF97's own units: pressure p in MPa (absolute),
// temperature T in K, specific enthalpy in kJ/kg. The convenience functions
// ([WaterEnthalpy], [SteamEnthalpy], [SaturatedWaterEnthalpy],
// [SaturatedSteamEnthalpy], [LatentHeat], [SaturationTemperatureC]) take the
// temperature in °C and say in their parameter names that the pressure is
// absolute; boiler instruments usually read gauge pressure, which
// [GaugeToAbsoluteMPa] converts.
//
// Every function validates its inputs against the IF97 range of validity of
// the region it evaluates and returns a *[RangeError] (matching
// [ErrOutOfRange] with errors.Is) instead of extrapolating: the polynomial
// fits return plausible-looking but wrong numbers outside their range.
package steam

import (
	"errors"
	"fmt"
	"math"
)

// ErrOutOfRange is matched (errors.Is) by every error this package returns
// for an input outside the IF97 range of validity, or NaN/±Inf.
var ErrOutOfRange = errors.New("outside the IAPWS-IF97 range of validity")

// RangeError describes an input outside the range of validity of the IF97
// equation that was asked for.
type RangeError struct {
	Func    string  // the equation or function evaluated, e.g. "region 2"
	Input   string  // the offending input: "p" or "T"
	Value   float64 // its value, in Unit
	Unit    string  // "MPa", "K" or "°C"
	Allowed string  // human-readable allowed range, in the same unit
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("steam: %s: %s = %g %s is %v: allowed %s",
		e.Func, e.Input, e.Value, e.Unit, ErrOutOfRange, e.Allowed)
}

// Unwrap lets errors.Is(err, ErrOutOfRange) succeed.
func (e *RangeError) Unwrap() error { return ErrOutOfRange }

// Physical and formulation constants of IF97. They are fixed by the release,
// not configuration.
const (
	// R is the specific gas constant of water used by IF97, kJ/(kg·K).
	R = 0.461526
	// KelvinOffset converts °C to K: T[K] = t[°C] + KelvinOffset.
	KelvinOffset = 273.15
	// StandardAtmosphereMPa is 101 325 Pa, the ambient pressure assumed by
	// GaugeToAbsoluteMPa.
	StandardAtmosphereMPa = 0.101325

	// CriticalTemperatureK and CriticalPressureMPa bound region 4.
	CriticalTemperatureK = 647.096
	CriticalPressureMPa  = 22.064

	// TminK is the lowest temperature of regions 1, 2 and 4 (0 °C).
	TminK = 273.15
	// T13K is the upper temperature of region 1 (boundary to region 3).
	T13K = 623.15
	// T23MaxK is the highest temperature at which the B23 boundary applies;
	// above it region 2 extends up to 100 MPa.
	T23MaxK = 863.15
	// T2MaxK is the upper temperature of region 2 (region 5 starts above).
	T2MaxK = 1073.15
	// PMaxMPa is the upper pressure of regions 1 and 2.
	PMaxMPa = 100.0
	// PMin2MPa is the lowest pressure accepted in region 2 (1 µPa). IF97
	// allows any p > 0 (the ideal-gas limit), but v = R·T/p overflows
	// float64 for p near the smallest positive numbers; no boiler state
	// comes anywhere near this limit.
	PMin2MPa = 1e-12
	// PsatMinMPa is the saturation pressure at 273.15 K, the lower end of
	// the saturation-temperature equation. The release prints it rounded as
	// 611.213 Pa; eq. (30) gives 611.2126774 Pa, and that value is used so
	// that Ts(Ps(273.15 K)) is accepted.
	PsatMinMPa = 611.212677e-6
)

// satRelTol is the relative slack allowed when a (p, T) point is compared
// with the saturation line. Ps(T) and Ts(p) are inverse to about 1e-12, so a
// point computed as (p, Ts(p)) must not be rejected as being on the wrong
// side because of rounding; 1e-9 is far below any instrument resolution.
const satRelTol = 1e-9

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// GaugeToAbsoluteMPa returns the absolute pressure for a gauge reading,
// assuming standard atmospheric pressure (0.101325 MPa). A site at altitude
// should add its own barometric pressure instead.
func GaugeToAbsoluteMPa(pGaugeMPa float64) float64 {
	return pGaugeMPa + StandardAtmosphereMPa
}

// SaturationTemperatureC returns the saturation (boiling) temperature in °C
// at absolute pressure pAbsMPa.
func SaturationTemperatureC(pAbsMPa float64) (float64, error) {
	t, err := SaturationTemperature(pAbsMPa)
	if err != nil {
		return math.NaN(), err
	}
	return t - KelvinOffset, nil
}

// checkSatLinePressure validates p for the saturated-water/steam functions.
// Their upper limit is Ps(623.15 K) ≈ 16.529 MPa, not the critical pressure,
// because above 623.15 K the saturated states lie in region 3, which is not
// implemented.
func checkSatLinePressure(fn string, pAbsMPa float64) error {
	pMax := psat(T13K)
	if !finite(pAbsMPa) || pAbsMPa < PsatMinMPa || pAbsMPa > pMax {
		return &RangeError{Func: fn, Input: "p", Value: pAbsMPa, Unit: "MPa",
			Allowed: fmt.Sprintf("%g ≤ p ≤ %.9g MPa (saturation between 273.15 K and 623.15 K; region 3 not implemented)", PsatMinMPa, pMax)}
	}
	return nil
}

// SaturatedWaterEnthalpy returns h', the specific enthalpy of saturated
// liquid water in kJ/kg at absolute pressure pAbsMPa (region 1 at Ts(p)).
func SaturatedWaterEnthalpy(pAbsMPa float64) (float64, error) {
	if err := checkSatLinePressure("saturated water", pAbsMPa); err != nil {
		return math.NaN(), err
	}
	// Evaluated without the region-1 side check: (p, Ts(p)) is on the
	// boundary by construction.
	return region1(pAbsMPa, tsat(pAbsMPa)).H, nil
}

// SaturatedSteamEnthalpy returns h”, the specific enthalpy of dry saturated
// steam in kJ/kg at absolute pressure pAbsMPa (region 2 at Ts(p)).
func SaturatedSteamEnthalpy(pAbsMPa float64) (float64, error) {
	if err := checkSatLinePressure("saturated steam", pAbsMPa); err != nil {
		return math.NaN(), err
	}
	return region2(pAbsMPa, tsat(pAbsMPa)).H, nil
}

// LatentHeat returns r = h” − h', the heat of vaporization in kJ/kg at
// absolute pressure pAbsMPa.
func LatentHeat(pAbsMPa float64) (float64, error) {
	if err := checkSatLinePressure("latent heat", pAbsMPa); err != nil {
		return math.NaN(), err
	}
	t := tsat(pAbsMPa)
	return region2(pAbsMPa, t).H - region1(pAbsMPa, t).H, nil
}

// WaterEnthalpy returns the specific enthalpy in kJ/kg of liquid water at
// absolute pressure pAbsMPa and temperature tC (°C), e.g. feedwater. It
// returns an error if the water would be steam at that pressure (tC above
// the saturation temperature) or the point is outside region 1.
func WaterEnthalpy(pAbsMPa, tC float64) (float64, error) {
	st, err := Region1(pAbsMPa, tC+KelvinOffset)
	if err != nil {
		return math.NaN(), fmt.Errorf("water enthalpy at t = %g °C: %w", tC, err)
	}
	return st.H, nil
}

// SteamEnthalpy returns the specific enthalpy in kJ/kg of superheated (or
// dry saturated) steam at absolute pressure pAbsMPa and temperature tC (°C).
// It returns an error if the point is liquid (tC below the saturation
// temperature) or outside region 2.
func SteamEnthalpy(pAbsMPa, tC float64) (float64, error) {
	st, err := Region2(pAbsMPa, tC+KelvinOffset)
	if err != nil {
		return math.NaN(), fmt.Errorf("steam enthalpy at t = %g °C: %w", tC, err)
	}
	return st.H, nil
}
