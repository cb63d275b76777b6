package model

import "math"

// The simulator's own water and steam properties, independent of the
// collector's IAPWS-IF97 code (collector/steam) so that the simulated-day
// test checks the collector's properties as well as its pipeline.
//
// satTable is the saturation table of a printed steam table (IAPWS-IF97
// values as steam tables print them: p in MPa absolute, t_s in °C, h′ and
// h″ in kJ/kg, rounded to 0.01 °C and 0.1 kJ/kg), every 0.1 MPa over the
// range of small industrial boilers. Linear interpolation between rows is
// within 0.3 kJ/kg of the true curve here (h″ bends little): 0.01 % of the
// enthalpy rise, far inside the test's tolerance.
var satTable = [][4]float64{
	{0.2, 120.21, 504.7, 2706.2},
	{0.3, 133.53, 561.5, 2724.9},
	{0.4, 143.61, 604.7, 2738.1},
	{0.5, 151.84, 640.2, 2748.1},
	{0.6, 158.83, 670.5, 2756.1},
	{0.7, 164.95, 697.1, 2762.7},
	{0.8, 170.41, 721.0, 2768.3},
	{0.9, 175.36, 742.7, 2773.0},
	{1.0, 179.89, 762.7, 2777.1},
	{1.1, 184.07, 781.2, 2780.7},
	{1.2, 187.96, 798.5, 2783.8},
	{1.3, 191.61, 814.8, 2786.5},
	{1.4, 195.05, 830.1, 2788.9},
	{1.5, 198.30, 844.7, 2791.0},
	{1.6, 201.38, 858.6, 2792.9},
	{1.7, 204.31, 871.9, 2794.5},
	{1.8, 207.12, 884.6, 2796.0},
	{1.9, 209.81, 896.8, 2797.3},
	{2.0, 212.38, 908.6, 2798.4},
}

// atmosphere is the standard atmosphere, MPa, for gauge pressures.
const atmosphere = 0.101325

// saturation interpolates the table at a gauge pressure (MPa(g)): the
// saturation temperature °C, h′ and h″ kJ/kg. Outside the table the end
// rows' slope extends it (the boiler clamps its pressure inside).
func saturation(gaugeMPa float64) (ts, hWater, hSteam float64) {
	p := gaugeMPa + atmosphere
	i := int(math.Floor((p - satTable[0][0]) / 0.1))
	i = max(0, min(i, len(satTable)-2))
	a, b := satTable[i], satTable[i+1]
	f := (p - a[0]) / (b[0] - a[0])
	lerp := func(k int) float64 { return a[k] + f*(b[k]-a[k]) }
	return lerp(1), lerp(2), lerp(3)
}

// waterEnthalpy is compressed water at t °C (10–110 °C) and a gauge
// pressure, kJ/kg: c ≈ 4.19 kJ/(kg·K) from 0 °C plus the pressure work
// v·p ≈ 0.001 m³/kg × p. Within 0.4 kJ/kg of the steam tables over
// 10–110 °C at 0.2–2 MPa.
func waterEnthalpy(t, gaugeMPa float64) float64 {
	return 4.19*t + (gaugeMPa+atmosphere)*1.0
}
