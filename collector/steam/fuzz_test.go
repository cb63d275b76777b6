package steam

import (
	"errors"
	"math"
	"testing"
)

// FuzzEnthalpy feeds arbitrary (p, t) pairs to every exported function and
// asserts that none panics, that every error is a range error, and that
// every value returned with a nil error is finite.
func FuzzEnthalpy(f *testing.F) {
	seeds := [][2]float64{
		{1, 20}, {1.351325, 193.4}, {0.0035, 26.85}, {30, 426.85}, {100, 0},
		{22.064, 373.946}, {0, 0}, {-1, -300}, {1e-12, 800}, {16.5291643, 350},
		{math.NaN(), 20}, {1, math.Inf(1)}, {1e308, -1e308},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, tC float64) {
		tK := tC + KelvinOffset
		check := func(name string, v float64, err error) {
			if err != nil {
				if !errors.Is(err, ErrOutOfRange) {
					t.Fatalf("%s(%g, %g): unexpected error kind %v", name, p, tC, err)
				}
				return
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s(%g, %g) = %g with nil error", name, p, tC, v)
			}
		}
		checkProps := func(name string, st Properties, err error) {
			for _, v := range []float64{st.V, st.H, st.U, st.S, st.Cp, st.W} {
				check(name, v, err)
			}
		}
		v, err := WaterEnthalpy(p, tC)
		check("WaterEnthalpy", v, err)
		v, err = SteamEnthalpy(p, tC)
		check("SteamEnthalpy", v, err)
		v, err = SaturatedWaterEnthalpy(p)
		check("SaturatedWaterEnthalpy", v, err)
		v, err = SaturatedSteamEnthalpy(p)
		check("SaturatedSteamEnthalpy", v, err)
		v, err = LatentHeat(p)
		check("LatentHeat", v, err)
		v, err = SaturationTemperatureC(p)
		check("SaturationTemperatureC", v, err)
		v, err = SaturationPressure(tK)
		check("SaturationPressure", v, err)
		v, err = B23Pressure(tK)
		check("B23Pressure", v, err)
		v, err = B23Temperature(p)
		check("B23Temperature", v, err)
		st, err := Region1(p, tK)
		checkProps("Region1", st, err)
		st, err = Region2(p, tK)
		checkProps("Region2", st, err)
	})
}
