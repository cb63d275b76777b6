package steam

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

// TestSaturatedConvenience checks the °C / absolute-pressure helpers against
// widely printed IF97 steam-table values (rounded as printed) and against
// each other.
func TestSaturatedConvenience(t *testing.T) {
	tests := []struct {
		name        string
		pAbsMPa     float64
		tsC, hw, hs float64 // printed table values
		tolT, tolH  float64 // half a unit of the last printed digit
	}{
		// Normal boiling point: 99.974 °C, h' 419.0, h'' 2675.5.
		{"1 atm", 0.101325, 99.974, 419.0, 2675.5, 0.0005, 0.05},
		// 1 MPa: 179.886 °C, h' 762.683, h'' 2777.12.
		{"1 MPa", 1, 179.886, 762.683, 2777.12, 0.0005, 0.005},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := SaturationTemperatureC(tc.pAbsMPa)
			if err != nil {
				t.Fatal(err)
			}
			hw, err := SaturatedWaterEnthalpy(tc.pAbsMPa)
			if err != nil {
				t.Fatal(err)
			}
			hs, err := SaturatedSteamEnthalpy(tc.pAbsMPa)
			if err != nil {
				t.Fatal(err)
			}
			r, err := LatentHeat(tc.pAbsMPa)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(ts-tc.tsC) > tc.tolT {
				t.Errorf("Ts = %.6f °C, want %g", ts, tc.tsC)
			}
			if math.Abs(hw-tc.hw) > tc.tolH {
				t.Errorf("h' = %.6f kJ/kg, want %g", hw, tc.hw)
			}
			if math.Abs(hs-tc.hs) > tc.tolH {
				t.Errorf("h'' = %.6f kJ/kg, want %g", hs, tc.hs)
			}
			if math.Abs(r-(hs-hw)) > 1e-9 {
				t.Errorf("r = %.9f, want h''-h' = %.9f", r, hs-hw)
			}
			// The (p, t) helpers must accept the saturation temperature
			// itself from either side and agree with the saturated values.
			w, err := WaterEnthalpy(tc.pAbsMPa, ts)
			if err != nil {
				t.Fatalf("WaterEnthalpy at Ts: %v", err)
			}
			s, err := SteamEnthalpy(tc.pAbsMPa, ts)
			if err != nil {
				t.Fatalf("SteamEnthalpy at Ts: %v", err)
			}
			if math.Abs(w-hw) > 1e-9 || math.Abs(s-hs) > 1e-9 {
				t.Errorf("WaterEnthalpy/SteamEnthalpy at Ts = %.9f/%.9f, want %.9f/%.9f", w, s, hw, hs)
			}
		})
	}
}

// TestBoilerDeltaH reproduces the reference's direct-method cross-check:
// 1.25 MPa(g) saturated steam from 20 °C feedwater needs Δh ≈ 2,700 kJ/kg.
func TestBoilerDeltaH(t *testing.T) {
	p := GaugeToAbsoluteMPa(1.25)
	if p != 1.351325 {
		t.Fatalf("GaugeToAbsoluteMPa(1.25) = %g", p)
	}
	hs, err := SaturatedSteamEnthalpy(p)
	if err != nil {
		t.Fatal(err)
	}
	// Feedwater is pumped to at least drum pressure.
	hf, err := WaterEnthalpy(p, 20)
	if err != nil {
		t.Fatal(err)
	}
	if dh := hs - hf; math.Abs(dh-2700) > 5 {
		t.Errorf("Δh = %.2f kJ/kg, want ≈ 2700", dh)
	}
	ts, _ := SaturationTemperatureC(p)
	if math.Abs(ts-194) > 1 {
		t.Errorf("Ts(1.25 MPa(g)) = %.2f °C, want ≈ 194", ts)
	}
}

// TestWrongSideWrapped checks that the convenience functions keep the
// *RangeError reachable through their added context.
func TestWrongSideWrapped(t *testing.T) {
	_, err := SteamEnthalpy(GaugeToAbsoluteMPa(1.25), 180) // below Ts ≈ 193 °C
	var re *RangeError
	if !errors.As(err, &re) || re.Input != "p" {
		t.Fatalf("got %v, want *RangeError on p", err)
	}
	if !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("got %v, want ErrOutOfRange", err)
	}
}

func ExampleSaturatedSteamEnthalpy() {
	p := GaugeToAbsoluteMPa(1.25) // drum gauge reading
	hs, _ := SaturatedSteamEnthalpy(p)
	hw, _ := WaterEnthalpy(p, 20) // feedwater at 20 °C
	fmt.Printf("h'' = %.1f kJ/kg, feedwater %.1f kJ/kg, Δh = %.1f kJ/kg\n", hs, hw, hs-hw)
	// Output: h'' = 2787.8 kJ/kg, feedwater 85.2 kJ/kg, Δh = 2702.6 kJ/kg
}
