package steam

import (
	"fmt"
	"math"
)

// Properties are the specific properties of one (p, T) state.
type Properties struct {
	P  float64 // pressure, MPa (absolute)
	T  float64 // temperature, K
	V  float64 // specific volume, m³/kg
	H  float64 // specific enthalpy, kJ/kg
	U  float64 // specific internal energy, kJ/kg
	S  float64 // specific entropy, kJ/(kg·K)
	Cp float64 // specific isobaric heat capacity, kJ/(kg·K)
	W  float64 // speed of sound, m/s
}

// term is one (I, J, n) row of an IF97 coefficient table.
type term struct {
	I, J int
	n    float64
}

// region1Terms is Table 2 of IAPWS-IF97 (R7-97(2012)), the 34 terms of the
// dimensionless Gibbs free energy γ = Σ nᵢ (7.1 − π)^Iᵢ (τ − 1.222)^Jᵢ.
// Typed from the release and cross-checked against three independent public
// implementations (CoolProp/IF97, jjgomera/iapws, a C steam-table library);
// the Table 5 verification values in the tests pin every digit that matters.
var region1Terms = [...]term{
	{0, -2, 0.14632971213167},
	{0, -1, -0.84548187169114},
	{0, 0, -0.37563603672040e1},
	{0, 1, 0.33855169168385e1},
	{0, 2, -0.95791963387872},
	{0, 3, 0.15772038513228},
	{0, 4, -0.16616417199501e-1},
	{0, 5, 0.81214629983568e-3},
	{1, -9, 0.28319080123804e-3},
	{1, -7, -0.60706301565874e-3},
	{1, -1, -0.18990068218419e-1},
	{1, 0, -0.32529748770505e-1},
	{1, 1, -0.21841717175414e-1},
	{1, 3, -0.52838357969930e-4},
	{2, -3, -0.47184321073267e-3},
	{2, 0, -0.30001780793026e-3},
	{2, 1, 0.47661393906987e-4},
	{2, 3, -0.44141845330846e-5},
	{2, 17, -0.72694996297594e-15},
	{3, -4, -0.31679644845054e-4},
	{3, 0, -0.28270797985312e-5},
	{3, 6, -0.85205128120103e-9},
	{4, -5, -0.22425281908000e-5},
	{4, -2, -0.65171222895601e-6},
	{4, 10, -0.14341729937924e-12},
	{5, -8, -0.40516996860117e-6},
	{8, -11, -0.12734301741641e-8},
	{8, -6, -0.17424871230634e-9},
	{21, -29, -0.68762131295531e-18},
	{23, -31, 0.14478307828521e-19},
	{29, -38, 0.26335781662795e-22},
	{30, -39, -0.11947622640071e-22},
	{31, -40, 0.18228094581404e-23},
	{32, -41, -0.93537087292458e-25},
}

// region2Ideal is Table 10 of IAPWS-IF97: the ideal-gas part
// γ° = ln π + Σ n°ᵢ τ^J°ᵢ of region 2 (I is unused and zero).
var region2Ideal = [...]term{
	{0, 0, -0.96927686500217e1},
	{0, 1, 0.10086655968018e2},
	{0, -5, -0.56087911283020e-2},
	{0, -4, 0.71452738081455e-1},
	{0, -3, -0.40710498223928},
	{0, -2, 0.14240819171444e1},
	{0, -1, -0.43839511319450e1},
	{0, 2, -0.28408632460772},
	{0, 3, 0.21268463753307e-1},
}

// region2Residual is Table 11 of IAPWS-IF97: the 43 terms of the residual
// part γʳ = Σ nᵢ π^Iᵢ (τ − 0.5)^Jᵢ of region 2. One public transcription
// has n₂₈ = 0.19809330248201e-7; the release (and two other sources) say
// 0.19809712802088e-7, which the Table 15 values confirm.
var region2Residual = [...]term{
	{1, 0, -0.17731742473213e-2},
	{1, 1, -0.17834862292358e-1},
	{1, 2, -0.45996013696365e-1},
	{1, 3, -0.57581259083432e-1},
	{1, 6, -0.50325278727930e-1},
	{2, 1, -0.33032641670203e-4},
	{2, 2, -0.18948987516315e-3},
	{2, 4, -0.39392777243355e-2},
	{2, 7, -0.43797295650573e-1},
	{2, 36, -0.26674547914087e-4},
	{3, 0, 0.20481737692309e-7},
	{3, 1, 0.43870667284435e-6},
	{3, 3, -0.32277677238570e-4},
	{3, 6, -0.15033924542148e-2},
	{3, 35, -0.40668253562649e-1},
	{4, 1, -0.78847309559367e-9},
	{4, 2, 0.12790717852285e-7},
	{4, 3, 0.48225372718507e-6},
	{5, 7, 0.22922076337661e-5},
	{6, 3, -0.16714766451061e-10},
	{6, 16, -0.21171472321355e-2},
	{6, 35, -0.23895741934104e2},
	{7, 0, -0.59059564324270e-17},
	{7, 11, -0.12621808899101e-5},
	{7, 25, -0.38946842435739e-1},
	{8, 8, 0.11256211360459e-10},
	{8, 36, -0.82311340897998e1},
	{9, 13, 0.19809712802088e-7},
	{10, 4, 0.10406965210174e-18},
	{10, 10, -0.10234747095929e-12},
	{10, 14, -0.10018179379511e-8},
	{16, 29, -0.80882908646985e-10},
	{16, 50, 0.10693031879409},
	{18, 57, -0.33662250574171},
	{20, 20, 0.89185845355421e-24},
	{20, 35, 0.30629316876232e-12},
	{20, 48, -0.42002467698208e-5},
	{21, 21, -0.59056029685639e-25},
	{22, 53, 0.37826947613457e-5},
	{23, 39, -0.12768608934681e-14},
	{24, 26, 0.73087610595061e-28},
	{24, 40, 0.55414715350778e-16},
	{24, 58, -0.94369707241210e-6},
}

// region4N is Table 34 of IAPWS-IF97, n₁ … n₁₀ of the saturation-line
// equation (index 0 is n₁).
var region4N = [10]float64{
	0.11670521452767e4,
	-0.72421316703206e6,
	-0.17073846940092e2,
	0.12020824702470e5,
	-0.32325550322333e7,
	0.14915108613530e2,
	-0.48232657361591e4,
	0.40511340542057e6,
	-0.23855557567849,
	0.65017534844798e3,
}

// b23N is Table 1 of IAPWS-IF97, n₁ … n₅ of the B23 boundary equation.
var b23N = [5]float64{
	0.34805185628969e3,
	-0.11671859879975e1,
	0.10192970039326e-2,
	0.57254459862746e3,
	0.13918839778870e2,
}

// Reducing quantities (IF97 eqs. 7 and 15).
const (
	r1PStar = 16.53  // MPa
	r1TStar = 1386.0 // K
	r2PStar = 1.0    // MPa
	r2TStar = 540.0  // K
)

// gibbs holds a dimensionless Gibbs free energy and the derivatives that the
// properties need; subscripts are partial derivatives in π and τ.
type gibbs struct {
	g, gp, gpp, gt, gtt, gpt float64
}

// powi returns x^k for an integer k by repeated squaring. The exponents of
// IF97 are small integers (|k| ≤ 41), for which this is exact to a few ulp
// and about ten times faster than math.Pow, which dominated the cost of the
// efficiency engine (an enthalpy per boiler and steam meter per minute).
func powi(x float64, k int) float64 {
	if k < 0 {
		return 1 / powi(x, -k)
	}
	r := 1.0
	for k > 0 {
		if k&1 == 1 {
			r *= x
		}
		x *= x
		k >>= 1
	}
	return r
}

// region1 evaluates region 1 without range checks.
func region1(p, t float64) Properties {
	pi := p / r1PStar
	tau := r1TStar / t
	a := 7.1 - pi
	b := tau - 1.222
	var g gibbs
	for _, c := range region1Terms {
		aI := powi(a, c.I)
		bJ := powi(b, c.J)
		g.g += c.n * aI * bJ
		if c.I != 0 {
			aI1 := powi(a, c.I-1)
			g.gp -= c.n * float64(c.I) * aI1 * bJ
			if c.J != 0 {
				g.gpt -= c.n * float64(c.I*c.J) * aI1 * powi(b, c.J-1)
			}
			if c.I != 1 {
				g.gpp += c.n * float64(c.I*(c.I-1)) * powi(a, c.I-2) * bJ
			}
		}
		if c.J != 0 {
			g.gt += c.n * float64(c.J) * aI * powi(b, c.J-1)
			if c.J != 1 {
				g.gtt += c.n * float64(c.J*(c.J-1)) * aI * powi(b, c.J-2)
			}
		}
	}
	rt := R * t // kJ/kg
	w2 := g.gp * g.gp / ((g.gp-tau*g.gpt)*(g.gp-tau*g.gpt)/(tau*tau*g.gtt) - g.gpp)
	return Properties{
		P: p, T: t,
		// R·T/p is in kJ/(kg·MPa) = 1e-3 m³/kg.
		V:  rt * pi * g.gp / p * 1e-3,
		H:  rt * tau * g.gt,
		U:  rt * (tau*g.gt - pi*g.gp),
		S:  R * (tau*g.gt - g.g),
		Cp: -R * tau * tau * g.gtt,
		// Speed of sound needs R in J/(kg·K): ×1000.
		W: math.Sqrt(1000 * rt * w2),
	}
}

// region2 evaluates region 2 without range checks.
func region2(p, t float64) Properties {
	pi := p / r2PStar
	tau := r2TStar / t
	// Ideal-gas part.
	g0 := math.Log(pi)
	g0p := 1 / pi
	var g0t, g0tt float64
	for _, c := range region2Ideal {
		g0 += c.n * powi(tau, c.J)
		if c.J != 0 {
			g0t += c.n * float64(c.J) * powi(tau, c.J-1)
			if c.J != 1 {
				g0tt += c.n * float64(c.J*(c.J-1)) * powi(tau, c.J-2)
			}
		}
	}
	// Residual part.
	b := tau - 0.5
	var r gibbs
	for _, c := range region2Residual {
		pI := powi(pi, c.I)
		pI1 := powi(pi, c.I-1)
		bJ := powi(b, c.J)
		r.g += c.n * pI * bJ
		r.gp += c.n * float64(c.I) * pI1 * bJ
		if c.I != 1 {
			r.gpp += c.n * float64(c.I*(c.I-1)) * powi(pi, c.I-2) * bJ
		}
		if c.J != 0 {
			bJ1 := powi(b, c.J-1)
			r.gt += c.n * float64(c.J) * pI * bJ1
			r.gpt += c.n * float64(c.I*c.J) * pI1 * bJ1
			if c.J != 1 {
				r.gtt += c.n * float64(c.J*(c.J-1)) * pI * powi(b, c.J-2)
			}
		}
	}
	rt := R * t
	gt := g0t + r.gt
	gtt := g0tt + r.gtt
	num := 1 + 2*pi*r.gp + pi*pi*r.gp*r.gp
	x := 1 + pi*r.gp - tau*pi*r.gpt
	den := (1 - pi*pi*r.gpp) + x*x/(tau*tau*gtt)
	return Properties{
		P: p, T: t,
		V:  rt * pi * (g0p + r.gp) / p * 1e-3,
		H:  rt * tau * gt,
		U:  rt * (tau*gt - pi*(g0p+r.gp)),
		S:  R * (tau*gt - (g0 + r.g)),
		Cp: -R * tau * tau * gtt,
		W:  math.Sqrt(1000 * rt * num / den),
	}
}

// psat is the region-4 saturation-pressure equation (IF97 eq. 30) without
// range checks; T in K, result in MPa.
func psat(t float64) float64 {
	n := &region4N
	th := t + n[8]/(t-n[9])
	a := th*th + n[0]*th + n[1]
	b := n[2]*th*th + n[3]*th + n[4]
	c := n[5]*th*th + n[6]*th + n[7]
	x := 2 * c / (-b + math.Sqrt(b*b-4*a*c))
	x *= x
	return x * x
}

// tsat is the region-4 saturation-temperature equation (IF97 eq. 31)
// without range checks; p in MPa, result in K.
func tsat(p float64) float64 {
	n := &region4N
	beta := math.Sqrt(math.Sqrt(p))
	e := beta*beta + n[2]*beta + n[5]
	f := n[0]*beta*beta + n[3]*beta + n[6]
	g := n[1]*beta*beta + n[4]*beta + n[7]
	d := 2 * g / (-f - math.Sqrt(f*f-4*e*g))
	return (n[9] + d - math.Sqrt((n[9]+d)*(n[9]+d)-4*(n[8]+n[9]*d))) / 2
}

// SaturationPressure returns the saturation pressure Ps in MPa at
// temperature tK (IF97 region 4, eq. 30), valid for
// 273.15 K ≤ T ≤ 647.096 K.
func SaturationPressure(tK float64) (float64, error) {
	if !finite(tK) || tK < TminK || tK > CriticalTemperatureK {
		return math.NaN(), &RangeError{Func: "saturation pressure", Input: "T", Value: tK, Unit: "K",
			Allowed: fmt.Sprintf("%g K ≤ T ≤ %g K", TminK, CriticalTemperatureK)}
	}
	return psat(tK), nil
}

// SaturationTemperature returns the saturation temperature Ts in K at
// absolute pressure pMPa (IF97 region 4, eq. 31), valid for
// 611.213 Pa ≤ p ≤ 22.064 MPa.
func SaturationTemperature(pMPa float64) (float64, error) {
	if !finite(pMPa) || pMPa < PsatMinMPa || pMPa > CriticalPressureMPa {
		return math.NaN(), &RangeError{Func: "saturation temperature", Input: "p", Value: pMPa, Unit: "MPa",
			Allowed: fmt.Sprintf("%g MPa ≤ p ≤ %g MPa", PsatMinMPa, CriticalPressureMPa)}
	}
	return tsat(pMPa), nil
}

// B23Pressure returns the pressure in MPa on the boundary between regions 2
// and 3 at temperature tK (IF97 eq. 5), valid for 623.15 K ≤ T ≤ 863.15 K.
func B23Pressure(tK float64) (float64, error) {
	if !finite(tK) || tK < T13K || tK > T23MaxK {
		return math.NaN(), &RangeError{Func: "B23 boundary", Input: "T", Value: tK, Unit: "K",
			Allowed: fmt.Sprintf("%g K ≤ T ≤ %g K", T13K, T23MaxK)}
	}
	return b23p(tK), nil
}

// B23Temperature returns the temperature in K on the boundary between
// regions 2 and 3 at pressure pMPa (IF97 eq. 6), valid for
// Ps(623.15 K) ≈ 16.529 MPa ≤ p ≤ 100 MPa.
func B23Temperature(pMPa float64) (float64, error) {
	pMin := b23p(T13K)
	if !finite(pMPa) || pMPa < pMin || pMPa > PMaxMPa {
		return math.NaN(), &RangeError{Func: "B23 boundary", Input: "p", Value: pMPa, Unit: "MPa",
			Allowed: fmt.Sprintf("%.9g MPa ≤ p ≤ %g MPa", pMin, PMaxMPa)}
	}
	n := &b23N
	return n[3] + math.Sqrt((pMPa-n[4])/n[2]), nil
}

func b23p(t float64) float64 {
	n := &b23N
	return n[0] + n[1]*t + n[2]*t*t
}

// Region1 returns the properties of compressed water at absolute pressure
// pMPa and temperature tK. The IF97 range of region 1 is
// 273.15 K ≤ T ≤ 623.15 K and Ps(T) ≤ p ≤ 100 MPa.
func Region1(pMPa, tK float64) (Properties, error) {
	const fn = "region 1 (water)"
	if !finite(tK) || tK < TminK || tK > T13K {
		return Properties{}, &RangeError{Func: fn, Input: "T", Value: tK, Unit: "K",
			Allowed: fmt.Sprintf("%g K ≤ T ≤ %g K", TminK, T13K)}
	}
	ps := psat(tK)
	if !finite(pMPa) || pMPa < ps*(1-satRelTol) || pMPa > PMaxMPa {
		return Properties{}, &RangeError{Func: fn, Input: "p", Value: pMPa, Unit: "MPa",
			Allowed: fmt.Sprintf("Ps(%g K) = %.9g MPa ≤ p ≤ %g MPa (below Ps the point is steam)", tK, ps, PMaxMPa)}
	}
	return region1(pMPa, tK), nil
}

// Region2 returns the properties of superheated steam at absolute pressure
// pMPa and temperature tK. The IF97 range of region 2 is
//
//	273.15 K ≤ T ≤ 623.15 K:  0 < p ≤ Ps(T)
//	623.15 K < T ≤ 863.15 K:  0 < p ≤ pB23(T)
//	863.15 K < T ≤ 1073.15 K: 0 < p ≤ 100 MPa
//
// The lower pressure limit is PMin2MPa rather than 0 (see there).
func Region2(pMPa, tK float64) (Properties, error) {
	const fn = "region 2 (steam)"
	if !finite(tK) || tK < TminK || tK > T2MaxK {
		return Properties{}, &RangeError{Func: fn, Input: "T", Value: tK, Unit: "K",
			Allowed: fmt.Sprintf("%g K ≤ T ≤ %g K", TminK, T2MaxK)}
	}
	var pMax float64
	var why string
	switch {
	case tK <= T13K:
		pMax = psat(tK) * (1 + satRelTol)
		why = fmt.Sprintf("Ps(%g K) = %.9g MPa (above Ps the point is water)", tK, psat(tK))
	case tK <= T23MaxK:
		pMax = b23p(tK)
		why = fmt.Sprintf("pB23(%g K) = %.9g MPa (above it is region 3, not implemented)", tK, pMax)
	default:
		pMax = PMaxMPa
		why = fmt.Sprintf("%g MPa", PMaxMPa)
	}
	if !finite(pMPa) || pMPa < PMin2MPa || pMPa > pMax {
		return Properties{}, &RangeError{Func: fn, Input: "p", Value: pMPa, Unit: "MPa",
			Allowed: fmt.Sprintf("%g MPa ≤ p ≤ %s", PMin2MPa, why)}
	}
	return region2(pMPa, tK), nil
}
