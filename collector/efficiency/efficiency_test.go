package efficiency

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/collector/steam"
)

// workedExample is the 10 t/h chain-grate test vector of §1 of
// domain/boiler-efficiency-reference.md, run at rated load, with the
// default (full) q3: the reference's own numbers, which leave the
// (1 − q4/100) factor out of q3, are reproduced with Coef.Q3Simple.
func workedExample() IndirectInput {
	return IndirectInput{
		Coal: Coal{LHV: 20000, AshPct: 23},
		Coef: Coefficients{M: 0.4, N: 3.6, Q3Coef: 3.2, CarbonHeat: 32866, SlagHeat: 560},

		O2Pct: 8, COppm: 500, ExhaustC: 160, ColdAirC: 20,
		SlagFraction: 0.8, SlagCarbonPct: 15,
		FlyAshFraction: 0.2, FlyAshCarbonPct: 25,
		Q5Rated: 1.7, RatedLoad: 10, ActualLoad: 10,
	}
}

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		t.Errorf("%s = %.6f, want %g ± %g", name, got, want, tol)
	}
}

// TestIndirectWorkedExample reproduces the reference's worked example.
// How each published number comes out (Q = 20,000, A = 23):
//
//	α  = 21/(21 − 8) = 1.615385                       (reference: 1.615)
//	q4 = 32,866 × 0.23 × (0.8·15/85 + 0.2·25/75) / 20,000 × 100
//	   = 32,866 × 0.23 × 0.207843 / 200 = 7.8556      (reference: 7.86)
//	q2 = (0.4 + 3.6 × 1.615385) × (160 − 20)/100 = 8.70154,
//	     × (1 − 0.078556) = 8.0180                    (reference: 8.70 × (1 − 0.0786) = 8.01;
//	     8.70 × 0.9214 = 8.016, so the reference truncates; 8.018 is within its ±0.01)
//	q3 = 3.2 × 1.615385 × 0.05 = 0.25846             (reference: 0.26, i.e. WITHOUT the
//	     (1 − q4/100) factor; with it q3 = 0.2382, which would print 0.24)
//	q5 = 1.7 × 10/10 = 1.7                            (reference: 1.7)
//	q6 = 23 × 0.8 × 560 / (20,000 × 85) × 100 = 0.60612 (reference: 0.61)
//	η₂ = 100 − 18.4382 = 81.5618                      (reference: ≈ 81.6)
func TestIndirectWorkedExample(t *testing.T) {
	in := workedExample()
	in.Coef.Q3Simple = true // the reference's example leaves q3 uncorrected
	res, err := Indirect(in)
	if err != nil {
		t.Fatal(err)
	}
	// Against the reference's printed (rounded) values.
	near(t, "alpha", res.Alpha, 1.615, 0.0005)
	near(t, "q4", res.Losses.Q4, 7.86, 0.01)
	near(t, "q2", res.Losses.Q2, 8.01, 0.01)
	near(t, "q3", res.Losses.Q3, 0.26, 0.005)
	near(t, "q5", res.Losses.Q5, 1.7, 1e-12)
	near(t, "q6", res.Losses.Q6, 0.61, 0.005)
	near(t, "efficiency", res.Efficiency, 81.6, 0.05)
	// Against the unrounded hand calculation above.
	near(t, "alpha exact", res.Alpha, 21.0/13, 1e-12)
	near(t, "q4 exact", res.Losses.Q4, 7.85561, 1e-4)
	near(t, "q2 exact", res.Losses.Q2, 8.01797, 1e-4)
	near(t, "q3 exact", res.Losses.Q3, 0.258462, 1e-6)
	near(t, "q6 exact", res.Losses.Q6, 0.606118, 1e-6)
	near(t, "efficiency exact", res.Efficiency, 81.5618, 1e-3)
	near(t, "sum", res.Losses.Sum(), 100-res.Efficiency, 1e-12)
}

// TestIndirectVariants checks the options and corrections against hand
// calculations that start from the worked example.
func TestIndirectVariants(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*IndirectInput)
		check  func(*testing.T, Result)
	}{
		{
			// The reference's simplified q3, without (1 − q4/100):
			// q3 = 0.258462, η = 81.5618 (TestIndirectWorkedExample).
			name:   "simple q3",
			modify: func(in *IndirectInput) { in.Coef.Q3Simple = true },
			check: func(t *testing.T, r Result) {
				near(t, "q3", r.Losses.Q3, 0.258462, 1e-6)
				near(t, "efficiency", r.Efficiency, 81.5618, 1e-3)
			},
		},
		{
			// Half load doubles the surface loss: q5 = 1.7 × 10/5.
			name:   "half load",
			modify: func(in *IndirectInput) { in.ActualLoad = 5 },
			check:  func(t *testing.T, r Result) { near(t, "q5", r.Losses.Q5, 3.4, 1e-12) },
		},
		{
			// Σ aᵢCᵢ/(100 − Cᵢ) = 0.75·15/85 + 0.2·25/75 + 0.05·30/70 = 0.220448;
			// q4 = 32,866 × 0.23 × 0.220448 / 200 = 8.33195;
			// q6 = 23 × 0.75 × 560 / (20,000 × 85) × 100 = 0.568235.
			name: "with grate siftings",
			modify: func(in *IndirectInput) {
				in.SlagFraction, in.FlyAshFraction = 0.75, 0.2
				in.SiftingsFraction, in.SiftingsCarbonPct = 0.05, 30
			},
			check: func(t *testing.T, r Result) {
				near(t, "q4", r.Losses.Q4, 8.33195, 1e-4)
				near(t, "q6", r.Losses.Q6, 0.568235, 1e-6)
			},
		},
		{
			// GB/T 10184's carbon heat: q4 = 7.85561 × 33,727/32,866 = 8.06139.
			name:   "utility carbon heat",
			modify: func(in *IndirectInput) { in.Coef.CarbonHeat = 33727 },
			check:  func(t *testing.T, r Result) { near(t, "q4", r.Losses.Q4, 8.06139, 1e-4) },
		},
		{
			// No CO: q3 is a genuine 0, not a placeholder.
			name:   "zero CO",
			modify: func(in *IndirectInput) { in.COppm = 0 },
			check:  func(t *testing.T, r Result) { near(t, "q3", r.Losses.Q3, 0, 0) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := workedExample()
			tc.modify(&in)
			res, err := Indirect(in)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, res)
		})
	}
}

func TestExcessAir(t *testing.T) {
	tests := []struct {
		o2, want float64
		wantErr  bool
	}{
		{0, 1, false},
		{8, 21.0 / 13, false},
		{10.5, 2, false},
		{20.99, 2100, false},
		{-0.1, 0, true},
		{21, 0, true},
		{25, 0, true},
		{math.NaN(), 0, true},
		{math.Inf(1), 0, true},
	}
	for _, tc := range tests {
		got, err := ExcessAir(tc.o2)
		if tc.wantErr {
			var ie *InputError
			if !errors.As(err, &ie) || ie.Input != "o2Pct" || !errors.Is(err, ErrInvalidInput) {
				t.Errorf("ExcessAir(%g) = %g, %v; want *InputError on o2Pct", tc.o2, got, err)
			}
			if !math.IsNaN(got) {
				t.Errorf("ExcessAir(%g) returned %g with an error, want NaN", tc.o2, got)
			}
			continue
		}
		if err != nil || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("ExcessAir(%g) = %g, %v; want %g", tc.o2, got, err, tc.want)
		}
	}
}

// TestDirectCrossCheck reproduces the reference's direct-method check:
// Δh = 2,700 kJ/kg, D = 10 t/h, η = 81.6 %, Q = 20,000 kJ/kg give
// B = 10 × 2,700 / (0.816 × 20,000) = 1.65441 t/h ≈ 1,654 kg/h, i.e.
// 165 kg coal per tonne of steam, or 165.44 × 20,000/29,307.6 = 113 kgce/t.
func TestDirectCrossCheck(t *testing.T) {
	b, err := CoalFlow(10, 2700, 81.6, 20000)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "B (kg/h)", b*1000, 1654, 0.5)
	near(t, "kg coal per t steam", b*1000/10, 165, 0.5)
	near(t, "kgce per t steam", b*1000/10*20000/29307.6, 113, 0.5)

	// And back: the direct method with that coal flow returns 81.6 %.
	eta, err := Direct(DirectInput{
		Output: SaturatedSteam, Flow: 10, OutEnthalpy: 2785, FeedEnthalpy: 85,
		CoalFlow: b, LHV: 20000,
	})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "direct η", eta, 81.6, 1e-9)

	// The Δh ≈ 2,700 itself: 1.25 MPa(g) saturated steam, 20 °C feedwater.
	p := steam.GaugeToAbsoluteMPa(1.25)
	hs, err := steam.SaturatedSteamEnthalpy(p)
	if err != nil {
		t.Fatal(err)
	}
	hf, err := steam.WaterEnthalpy(p, 20)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "Δh", hs-hf, 2700, 5)
}

func TestDirect(t *testing.T) {
	tests := []struct {
		name string
		in   DirectInput
		want float64
	}{
		{
			// [10 × (2800 − 100 − 2000 × 5/100) + 0.5 × (800 − 100)] / (2 × 20,000) × 100
			// = (26,000 + 350) / 40,000 × 100 = 65.875
			name: "saturated, wet, with blowdown",
			in: DirectInput{Output: SaturatedSteam, Flow: 10, OutEnthalpy: 2800, FeedEnthalpy: 100,
				WetnessPct: 5, LatentHeat: 2000, BlowdownFlow: 0.5, BlowdownEnthalpy: 800,
				CoalFlow: 2, LHV: 20000},
			want: 65.875,
		},
		{
			// 35 × (3200 − 400) / (6 × 21,000) × 100 = 98,000/126,000 × 100
			name: "superheated",
			in: DirectInput{Output: SuperheatedSteam, Flow: 35, OutEnthalpy: 3200, FeedEnthalpy: 400,
				CoalFlow: 6, LHV: 21000},
			want: 98000.0 / 126000 * 100,
		},
		{
			// 100 × (400 − 300) / (0.7 × 20,000) × 100 = 10,000/14,000 × 100
			name: "hot water",
			in: DirectInput{Output: HotWater, Flow: 100, OutEnthalpy: 400, FeedEnthalpy: 300,
				CoalFlow: 0.7, LHV: 20000},
			want: 10000.0 / 14000 * 100,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Direct(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "η", got, tc.want, 1e-9)
		})
	}
}

// wantInputError asserts that err is an input error naming input.
func wantInputError(t *testing.T, err error, input string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error naming %s, got nil", input)
	}
	if !errors.Is(err, ErrInvalidInput) {
		t.Errorf("error %q does not match ErrInvalidInput", err)
	}
	var ie *InputError
	if !errors.As(err, &ie) || ie.Input != input {
		t.Errorf("error %q does not name %s first", err, input)
	}
}

func TestIndirectErrors(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		input  string
		modify func(*IndirectInput)
	}{
		{"Coal.LHV", func(in *IndirectInput) { in.Coal.LHV = 0 }},
		{"Coal.LHV", func(in *IndirectInput) { in.Coal.LHV = nan }},
		{"Coal.AshPct", func(in *IndirectInput) { in.Coal.AshPct = -1 }},
		{"Coal.AshPct", func(in *IndirectInput) { in.Coal.AshPct = 100 }},
		{"Coef.M", func(in *IndirectInput) { in.Coef.M = 0 }},
		{"Coef.N", func(in *IndirectInput) { in.Coef.N = -3.6 }},
		{"Coef.Q3Coef", func(in *IndirectInput) { in.Coef.Q3Coef = 0 }},
		{"Coef.CarbonHeat", func(in *IndirectInput) { in.Coef.CarbonHeat = math.Inf(1) }},
		{"Coef.SlagHeat", func(in *IndirectInput) { in.Coef.SlagHeat = 0 }},
		{"O2Pct", func(in *IndirectInput) { in.O2Pct = 21 }},
		{"O2Pct", func(in *IndirectInput) { in.O2Pct = nan }},
		{"COppm", func(in *IndirectInput) { in.COppm = -5 }},
		{"ExhaustC", func(in *IndirectInput) { in.ExhaustC = nan }},
		{"ExhaustC", func(in *IndirectInput) { in.ExhaustC = 10 }}, // below cold air
		{"ColdAirC", func(in *IndirectInput) { in.ColdAirC = math.Inf(-1) }},
		{"SlagFraction", func(in *IndirectInput) { in.SlagFraction = 1.2 }},
		{"FlyAshFraction", func(in *IndirectInput) { in.FlyAshFraction = -0.2 }},
		{"SiftingsFraction", func(in *IndirectInput) { in.SiftingsFraction = nan }},
		{"SlagCarbonPct", func(in *IndirectInput) { in.SlagCarbonPct = 100 }},
		{"FlyAshCarbonPct", func(in *IndirectInput) { in.FlyAshCarbonPct = -1 }},
		{"SiftingsCarbonPct", func(in *IndirectInput) { in.SiftingsCarbonPct = 150 }},
		{"SlagFraction+FlyAshFraction+SiftingsFraction", func(in *IndirectInput) { in.FlyAshFraction = 0.1 }},
		{"Q5Rated", func(in *IndirectInput) { in.Q5Rated = 0 }},
		{"RatedLoad", func(in *IndirectInput) { in.RatedLoad = 0 }},
		{"ActualLoad", func(in *IndirectInput) { in.ActualLoad = -1 }},
		{"losses q2+q3+q4+q5+q6", func(in *IndirectInput) { in.ActualLoad = 0.01 }}, // q5 = 1,700 %
	}
	for _, tc := range tests {
		t.Run(tc.input, func(t *testing.T) {
			in := workedExample()
			tc.modify(&in)
			res, err := Indirect(in)
			wantInputError(t, err, tc.input)
			if res != (Result{}) {
				t.Errorf("got result %+v alongside the error", res)
			}
		})
	}
}

// TestIndirectMissingEverything checks that a zero input reports every
// required field at once rather than one per call.
func TestIndirectMissingEverything(t *testing.T) {
	_, err := Indirect(IndirectInput{})
	if err == nil {
		t.Fatal("want error")
	}
	for _, name := range []string{"Coal.LHV", "Coef.M", "Coef.N", "Coef.Q3Coef", "Coef.CarbonHeat",
		"Coef.SlagHeat", "Q5Rated", "RatedLoad", "ActualLoad", "ash split"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not mention %s:\n%v", name, err)
		}
	}
}

func TestDirectErrors(t *testing.T) {
	valid := DirectInput{Output: SaturatedSteam, Flow: 10, OutEnthalpy: 2785, FeedEnthalpy: 85,
		CoalFlow: 1.65, LHV: 20000}
	tests := []struct {
		input  string
		modify func(*DirectInput)
	}{
		{"Output", func(in *DirectInput) { in.Output = 0 }},
		{"Output", func(in *DirectInput) { in.Output = 7 }},
		{"Flow", func(in *DirectInput) { in.Flow = 0 }},
		{"Flow", func(in *DirectInput) { in.Flow = math.NaN() }},
		{"OutEnthalpy", func(in *DirectInput) { in.OutEnthalpy = math.Inf(1) }},
		{"OutEnthalpy", func(in *DirectInput) { in.OutEnthalpy = 80 }}, // below feed
		{"FeedEnthalpy", func(in *DirectInput) { in.FeedEnthalpy = math.NaN() }},
		{"CoalFlow", func(in *DirectInput) { in.CoalFlow = 0 }},
		{"LHV", func(in *DirectInput) { in.LHV = -20000 }},
		{"WetnessPct", func(in *DirectInput) { in.WetnessPct = -1 }},
		{"WetnessPct", func(in *DirectInput) { in.Output, in.WetnessPct = SuperheatedSteam, 2 }},
		{"LatentHeat", func(in *DirectInput) { in.WetnessPct = 2 }}, // r missing
		{"BlowdownFlow", func(in *DirectInput) { in.BlowdownFlow = -0.1 }},
		{"BlowdownFlow", func(in *DirectInput) { in.Output, in.BlowdownFlow, in.BlowdownEnthalpy = HotWater, 0.1, 300 }},
		{"BlowdownEnthalpy", func(in *DirectInput) { in.BlowdownFlow = 0.1 }}, // 0 < feed enthalpy
		{"BlowdownEnthalpy", func(in *DirectInput) { in.BlowdownFlow, in.BlowdownEnthalpy = 0.1, math.NaN() }},
		{"useful heat", func(in *DirectInput) { in.WetnessPct, in.LatentHeat = 99, 3000 }},
	}
	for _, tc := range tests {
		t.Run(tc.input, func(t *testing.T) {
			in := valid
			tc.modify(&in)
			got, err := Direct(in)
			wantInputError(t, err, tc.input)
			if !math.IsNaN(got) {
				t.Errorf("got %g alongside the error, want NaN", got)
			}
		})
	}
}

func TestCoalFlowErrors(t *testing.T) {
	tests := []struct {
		input              string
		d, dh, etaPct, lhv float64
	}{
		{"steamFlow", 0, 2700, 81.6, 20000},
		{"steamFlow", -10, 2700, 81.6, 20000},
		{"deltaH", 10, math.NaN(), 81.6, 20000},
		{"deltaH", 10, -5, 81.6, 20000},
		{"efficiencyPct", 10, 2700, 0, 20000},
		{"efficiencyPct", 10, 2700, 0.816, 20000}, // a fraction, not a percentage
		{"efficiencyPct", 10, 2700, math.Inf(1), 20000},
		{"lhv", 10, 2700, 81.6, 0},
	}
	for _, tc := range tests {
		t.Run(tc.input, func(t *testing.T) {
			got, err := CoalFlow(tc.d, tc.dh, tc.etaPct, tc.lhv)
			wantInputError(t, err, tc.input)
			if !math.IsNaN(got) {
				t.Errorf("got %g alongside the error, want NaN", got)
			}
		})
	}
}

func ExampleIndirect() {
	res, err := Indirect(IndirectInput{
		Coal: Coal{LHV: 20000, AshPct: 23},
		// From configuration; these are the textbook values for
		// bituminous coal on a chain grate.
		Coef:  Coefficients{M: 0.4, N: 3.6, Q3Coef: 3.2, CarbonHeat: 32866, SlagHeat: 560},
		O2Pct: 8, COppm: 500, ExhaustC: 160, ColdAirC: 20,
		SlagFraction: 0.8, SlagCarbonPct: 15, FlyAshFraction: 0.2, FlyAshCarbonPct: 25,
		Q5Rated: 1.7, RatedLoad: 10, ActualLoad: 10,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	l := res.Losses
	fmt.Printf("α=%.3f q2=%.2f q3=%.2f q4=%.2f q5=%.2f q6=%.2f η=%.1f%%\n",
		res.Alpha, l.Q2, l.Q3, l.Q4, l.Q5, l.Q6, res.Efficiency)
	// Output: α=1.615 q2=8.02 q3=0.24 q4=7.86 q5=1.70 q6=0.61 η=81.6%
}

// TestQ3FullByDefault: without Q3Simple, q3 carries GB/T 10180's
// (100 − q4)/100 factor, like q2: the worked example's
// q3 = 3.2 × 1.615385 × 0.05 × (1 − 0.0785561) = 0.258462 × 0.921444 = 0.238158,
// and η₂ = 81.5618 + 0.258462 − 0.238158 = 81.5821.
func TestQ3FullByDefault(t *testing.T) {
	res, err := Indirect(workedExample())
	if err != nil {
		t.Fatal(err)
	}
	near(t, "q3", res.Losses.Q3, 0.238158, 1e-6)
	near(t, "efficiency", res.Efficiency, 81.5821, 1e-3)
}

// TestSecondWorkedExample is a second, independent test vector, worked out
// by hand (not from the reference): a 20 t/h grate at 80 % load burning a
// poorer coal, with wet steam and continuous blowdown.
//
// Inputs: D = 16 t/h at 1.25 MPa(g) (1.351325 MPa abs), saturated steam
// with h″ = 2,787.8, h′ = 822.8, r = h″ − h′ = 1,965.0 kJ/kg (IF97,
// rounded to 0.1); feedwater 104 °C, h_gs = 436.9 kJ/kg; wetness ω = 2 %;
// blowdown 3 % of D, D_ps = 0.48 t/h at h′; coal B = 2.70 t/h,
// Q = 18,500 kJ/kg, A_ar = 28 %; O₂ = 10 %, CO = 800 ppm, t_py = 175 °C,
// t_lk = 25 °C; slag a = 0.75 with C = 18 %, fly ash a = 0.25 with
// C = 30 %; m = 0.4, n = 3.6, q3 factor 3.2, carbon 32,866 kJ/kg, slag
// heat 560 kJ/kg; q5 = 1.3 % at the rated 20 t/h.
//
// Direct:
//
//	Δh = 2,787.8 − 436.9 − 1,965.0 × 2/100 = 2,350.9 − 39.3 = 2,311.6 kJ/kg
//	D·Δh = 16 × 2,311.6 = 36,985.6 MJ/h
//	D_ps·(h′ − h_gs) = 0.48 × (822.8 − 436.9) = 0.48 × 385.9 = 185.232 MJ/h
//	useful = 37,170.832 MJ/h;  B·Q = 2.70 × 18,500 = 49,950 MJ/h
//	η₁ = 37,170.832 / 49,950 × 100 = 74.41608 %
//	(dry steam would give (16 × 2,350.9 + 185.232)/49,950 × 100 = 75.67494 %:
//	ω = 2 % is worth 1.26 pp here.)
//
// Indirect:
//
//	α  = 21/(21 − 10) = 1.909091
//	Σ aC/(100 − C) = 0.75 × 18/82 + 0.25 × 30/70 = 0.164634 + 0.107143 = 0.271777
//	q4 = 32,866 × 0.28 × 0.271777 / 18,500 × 100 = 13.51904
//	q2 = (0.4 + 3.6 × 1.909091) × (175 − 25)/100 × (1 − 0.1351904)
//	   = 7.272727 × 1.5 × 0.8648096 = 10.909091 × 0.8648096 = 9.434287
//	q3 = 3.2 × 1.909091 × 0.08 × 0.8648096 = 0.488727 × 0.8648096 = 0.422656
//	q5 = 1.3 × 20/16 = 1.625
//	q6 = 28 × 0.75 × 560 / (18,500 × 82) × 100 = 11,760 / 1,517,000 × 100 = 0.775214
//	η₂ = 100 − (9.434287 + 0.422656 + 13.51904 + 1.625 + 0.775214)
//	   = 100 − 25.776197 = 74.223803 %
func TestSecondWorkedExample(t *testing.T) {
	eta1, err := Direct(DirectInput{Output: SaturatedSteam, Flow: 16, OutEnthalpy: 2787.8, FeedEnthalpy: 436.9,
		WetnessPct: 2, LatentHeat: 1965.0, BlowdownFlow: 0.48, BlowdownEnthalpy: 822.8, CoalFlow: 2.70, LHV: 18500})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "η₁", eta1, 74.41608, 1e-5)
	u, err := UsefulHeat(DirectInput{Output: SaturatedSteam, Flow: 16, OutEnthalpy: 2787.8, FeedEnthalpy: 436.9,
		WetnessPct: 2, LatentHeat: 1965.0, BlowdownFlow: 0.48, BlowdownEnthalpy: 822.8, CoalFlow: 2.70, LHV: 18500})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "useful heat", u, 37170.832, 1e-6)
	dry, err := Direct(DirectInput{Output: SaturatedSteam, Flow: 16, OutEnthalpy: 2787.8, FeedEnthalpy: 436.9,
		BlowdownFlow: 0.48, BlowdownEnthalpy: 822.8, CoalFlow: 2.70, LHV: 18500})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "η₁ dry", dry, 75.67494, 1e-5)

	res, err := Indirect(IndirectInput{
		Coal:  Coal{LHV: 18500, AshPct: 28},
		Coef:  Coefficients{M: 0.4, N: 3.6, Q3Coef: 3.2, CarbonHeat: 32866, SlagHeat: 560},
		O2Pct: 10, COppm: 800, ExhaustC: 175, ColdAirC: 25,
		SlagFraction: 0.75, SlagCarbonPct: 18, FlyAshFraction: 0.25, FlyAshCarbonPct: 30,
		Q5Rated: 1.3, RatedLoad: 20, ActualLoad: 16,
	})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "α", res.Alpha, 1.909091, 1e-6)
	near(t, "q4", res.Losses.Q4, 13.51904, 1e-5)
	near(t, "q2", res.Losses.Q2, 9.434287, 1e-6)
	near(t, "q3", res.Losses.Q3, 0.422656, 1e-6)
	near(t, "q5", res.Losses.Q5, 1.625, 1e-12)
	near(t, "q6", res.Losses.Q6, 0.775214, 1e-6)
	near(t, "η₂", res.Efficiency, 74.223803, 1e-5)
}
