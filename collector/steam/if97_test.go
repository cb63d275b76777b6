package steam

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

// same9 reports whether got equals the IF97 table value want when both are
// rounded to 9 significant digits, the precision the release prints.
func same9(got, want float64) bool {
	return strconv.FormatFloat(got, 'e', 8, 64) == strconv.FormatFloat(want, 'e', 8, 64)
}

func check9(t *testing.T, name string, got, want float64) {
	t.Helper()
	if !same9(got, want) {
		t.Errorf("%s = %.12g, want %.9g (rel err %.2g)", name, got, want, (got-want)/want)
	}
}

// TestRegion1Table5 reproduces Table 5 of IAPWS-IF97 (R7-97(2012)).
func TestRegion1Table5(t *testing.T) {
	tests := []struct {
		T, p              float64
		h, v, s, cp, w, u float64
	}{
		{300, 3, 115.331273, 0.100215168e-2, 0.392294792, 4.17301218, 1507.73921, 112.324818},
		{300, 80, 184.142828, 0.971180894e-3, 0.368563852, 4.01008987, 1634.69054, 106.448356},
		{500, 3, 975.542239, 0.120241800e-2, 2.58041912, 4.65580682, 1240.71337, 971.934985},
	}
	for _, tc := range tests {
		got, err := Region1(tc.p, tc.T)
		if err != nil {
			t.Fatalf("Region1(%g, %g): %v", tc.p, tc.T, err)
		}
		name := "Region1(" + strconv.FormatFloat(tc.p, 'g', -1, 64) + " MPa, " + strconv.FormatFloat(tc.T, 'g', -1, 64) + " K)"
		check9(t, name+".H", got.H, tc.h)
		check9(t, name+".V", got.V, tc.v)
		check9(t, name+".S", got.S, tc.s)
		check9(t, name+".Cp", got.Cp, tc.cp)
		check9(t, name+".W", got.W, tc.w)
		check9(t, name+".U", got.U, tc.u)
	}
}

// TestRegion2Table15 reproduces Table 15 of IAPWS-IF97. The low pressure is
// 0.0035 MPa (some public fixtures wrongly use 0.001 MPa).
func TestRegion2Table15(t *testing.T) {
	tests := []struct {
		T, p              float64
		h, v, s, cp, w, u float64
	}{
		{300, 0.0035, 2549.91145, 39.4913866, 8.52238967, 1.91300162, 427.920172, 2411.69160},
		{700, 0.0035, 3335.68375, 92.3015898, 10.1749996, 2.08141274, 644.289068, 3012.62819},
		{700, 30, 2631.49474, 0.542946619e-2, 5.17540298, 10.3505092, 480.386523, 2468.61076},
	}
	for _, tc := range tests {
		got, err := Region2(tc.p, tc.T)
		if err != nil {
			t.Fatalf("Region2(%g, %g): %v", tc.p, tc.T, err)
		}
		name := "Region2(" + strconv.FormatFloat(tc.p, 'g', -1, 64) + " MPa, " + strconv.FormatFloat(tc.T, 'g', -1, 64) + " K)"
		check9(t, name+".H", got.H, tc.h)
		check9(t, name+".V", got.V, tc.v)
		check9(t, name+".S", got.S, tc.s)
		check9(t, name+".Cp", got.Cp, tc.cp)
		check9(t, name+".W", got.W, tc.w)
		check9(t, name+".U", got.U, tc.u)
	}
}

// TestSaturationPressureTable35 reproduces Table 35 of IAPWS-IF97.
func TestSaturationPressureTable35(t *testing.T) {
	tests := []struct{ T, ps float64 }{
		{300, 0.353658941e-2},
		{500, 0.263889776e1},
		{600, 0.123443146e2},
	}
	for _, tc := range tests {
		got, err := SaturationPressure(tc.T)
		if err != nil {
			t.Fatalf("SaturationPressure(%g): %v", tc.T, err)
		}
		check9(t, "SaturationPressure("+strconv.FormatFloat(tc.T, 'g', -1, 64)+")", got, tc.ps)
	}
}

// TestSaturationTemperatureTable36 reproduces Table 36 of IAPWS-IF97.
func TestSaturationTemperatureTable36(t *testing.T) {
	tests := []struct{ p, ts float64 }{
		{0.1, 0.372755919e3},
		{1, 0.453035632e3},
		{10, 0.584149488e3},
	}
	for _, tc := range tests {
		got, err := SaturationTemperature(tc.p)
		if err != nil {
			t.Fatalf("SaturationTemperature(%g): %v", tc.p, err)
		}
		check9(t, "SaturationTemperature("+strconv.FormatFloat(tc.p, 'g', -1, 64)+")", got, tc.ts)
	}
}

// TestB23 uses the check value given with IF97 eqs. (5) and (6):
// T = 0.623150000e3 K ⇔ p = 0.165291643e2 MPa.
func TestB23(t *testing.T) {
	p, err := B23Pressure(623.15)
	if err != nil {
		t.Fatal(err)
	}
	check9(t, "B23Pressure(623.15)", p, 0.165291643e2)
	tt, err := B23Temperature(0.165291643e2)
	if err != nil {
		t.Fatal(err)
	}
	check9(t, "B23Temperature(16.5291643)", tt, 0.623150000e3)
}

// TestSaturationRoundTrip checks that eqs. (30) and (31) invert each other
// across the whole saturation line, which the region-side checks rely on.
func TestSaturationRoundTrip(t *testing.T) {
	for tK := TminK; tK <= CriticalTemperatureK; tK += 0.5 {
		p, err := SaturationPressure(tK)
		if err != nil {
			t.Fatal(err)
		}
		back, err := SaturationTemperature(math.Min(p, CriticalPressureMPa))
		if err != nil {
			t.Fatalf("T = %g: %v", tK, err)
		}
		if math.Abs(back-tK) > 1e-6 {
			t.Errorf("Ts(Ps(%g K)) = %.10g K", tK, back)
		}
	}
}

func TestRangeErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name      string
		call      func() error
		wantInput string
	}{
		{"r1 T below 0 °C", func() error { _, err := Region1(1, 273.0); return err }, "T"},
		{"r1 T above 623.15 K", func() error { _, err := Region1(20, 630); return err }, "T"},
		{"r1 p below Ps (steam side)", func() error { _, err := Region1(0.1, 400); return err }, "p"},
		{"r1 p above 100 MPa", func() error { _, err := Region1(100.1, 300); return err }, "p"},
		{"r1 p NaN", func() error { _, err := Region1(nan, 300); return err }, "p"},
		{"r1 T NaN", func() error { _, err := Region1(3, nan); return err }, "T"},
		{"r1 T +Inf", func() error { _, err := Region1(3, inf); return err }, "T"},
		{"r2 p zero", func() error { _, err := Region2(0, 400); return err }, "p"},
		{"r2 p negative", func() error { _, err := Region2(-1, 400); return err }, "p"},
		{"r2 p above Ps (water side)", func() error { _, err := Region2(1, 400); return err }, "p"},
		{"r2 p above B23 (region 3)", func() error { _, err := Region2(30, 650); return err }, "p"},
		{"r2 p above 100 MPa", func() error { _, err := Region2(101, 900); return err }, "p"},
		{"r2 T above 1073.15 K", func() error { _, err := Region2(1, 1074); return err }, "T"},
		{"r2 T below 273.15 K", func() error { _, err := Region2(0.0001, 270); return err }, "T"},
		{"r2 p -Inf", func() error { _, err := Region2(math.Inf(-1), 500); return err }, "p"},
		{"Ps T below", func() error { _, err := SaturationPressure(273.14); return err }, "T"},
		{"Ps T above critical", func() error { _, err := SaturationPressure(647.1); return err }, "T"},
		{"Ps T NaN", func() error { _, err := SaturationPressure(nan); return err }, "T"},
		{"Ts p below triple", func() error { _, err := SaturationTemperature(611e-6); return err }, "p"},
		{"Ts p above critical", func() error { _, err := SaturationTemperature(22.065); return err }, "p"},
		{"Ts p Inf", func() error { _, err := SaturationTemperature(inf); return err }, "p"},
		{"B23 T below", func() error { _, err := B23Pressure(600); return err }, "T"},
		{"B23 T above", func() error { _, err := B23Pressure(900); return err }, "T"},
		{"B23 p below", func() error { _, err := B23Temperature(10); return err }, "p"},
		{"B23 p above", func() error { _, err := B23Temperature(101); return err }, "p"},
		{"h' above 623.15 K line", func() error { _, err := SaturatedWaterEnthalpy(20); return err }, "p"},
		{"h'' negative p", func() error { _, err := SaturatedSteamEnthalpy(-0.1); return err }, "p"},
		{"r NaN", func() error { _, err := LatentHeat(nan); return err }, "p"},
		{"water is steam", func() error { _, err := WaterEnthalpy(0.101325, 120); return err }, "p"},
		{"water below 0 °C", func() error { _, err := WaterEnthalpy(1, -1); return err }, "T"},
		{"steam is water", func() error { _, err := SteamEnthalpy(1.35, 150); return err }, "p"},
		{"steam too hot", func() error { _, err := SteamEnthalpy(1, 900); return err }, "T"},
		{"Ts °C NaN", func() error { _, err := SaturationTemperatureC(nan); return err }, "p"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("want error, got nil")
			}
			if !errors.Is(err, ErrOutOfRange) {
				t.Errorf("error %q does not match ErrOutOfRange", err)
			}
			var re *RangeError
			if !errors.As(err, &re) {
				t.Fatalf("error %q is not a *RangeError", err)
			}
			if re.Input != tc.wantInput {
				t.Errorf("Input = %q, want %q (err %q)", re.Input, tc.wantInput, err)
			}
			if !strings.Contains(err.Error(), "allowed") {
				t.Errorf("error %q does not state the allowed range", err)
			}
		})
	}
}

// TestRangeEdges checks that the documented limits themselves are accepted.
func TestRangeEdges(t *testing.T) {
	ok := []struct {
		name string
		call func() error
	}{
		{"r1 at 273.15 K, 100 MPa", func() error { _, err := Region1(100, 273.15); return err }},
		{"r1 at 623.15 K on saturation", func() error { _, err := Region1(psat(623.15), 623.15); return err }},
		{"r2 at 273.15 K on saturation", func() error { _, err := Region2(PsatMinMPa, 273.15); return err }},
		{"r2 on B23 at 700 K", func() error { _, err := Region2(b23p(700), 700); return err }},
		{"r2 at 1073.15 K, 100 MPa", func() error { _, err := Region2(100, 1073.15); return err }},
		{"Ps at critical T", func() error { _, err := SaturationPressure(CriticalTemperatureK); return err }},
		{"Ts at critical p", func() error { _, err := SaturationTemperature(CriticalPressureMPa); return err }},
		{"Ts at triple p", func() error { _, err := SaturationTemperature(PsatMinMPa); return err }},
		{"h' at top of region 1", func() error { _, err := SaturatedWaterEnthalpy(psat(T13K)); return err }},
	}
	for _, tc := range ok {
		if err := tc.call(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
