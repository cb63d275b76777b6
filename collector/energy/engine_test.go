package energy

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/efficiency"
	"github.com/boilerwatch/boilerwatch/collector/steam"
)

// workedInputs are the reference's worked example (§1): 10 t/h at rated
// load, 1.25 MPa(g) saturated steam, 20 °C feedwater, O2 8 %, CO 500 ppm,
// exhaust 160 °C; coal feed chosen so that the direct method gives the
// indirect method's efficiency.
func workedInputs(t testing.TB) (coalTPH, etaPct float64) {
	t.Helper()
	res, err := efficiency.Indirect(efficiency.IndirectInput{
		Coal:  efficiency.Coal{LHV: 20000, AshPct: 23},
		Coef:  efficiency.Coefficients{M: 0.4, N: 3.6, Q3Coef: 3.2, CarbonHeat: 32866, SlagHeat: 560},
		O2Pct: 8, COppm: 500, ExhaustC: 160, ColdAirC: 20,
		SlagFraction: 0.8, SlagCarbonPct: 15, FlyAshFraction: 0.2, FlyAshCarbonPct: 25,
		Q5Rated: 1.7, RatedLoad: 10, ActualLoad: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	pAbs := steam.GaugeToAbsoluteMPa(1.25)
	hs, _ := steam.SaturatedSteamEnthalpy(pAbs)
	hw, _ := steam.WaterEnthalpy(pAbs, 20)
	b, err := efficiency.CoalFlow(10, hs-hw, res.Efficiency, 20000)
	if err != nil {
		t.Fatal(err)
	}
	return b, res.Efficiency
}

// feed adds samples every step in [from, to) for each point.
func feed(d Data, device string, from, to time.Time, step time.Duration, values map[string]func(time.Time) float64) {
	for t := from; t.Before(to); t = t.Add(step) {
		for p, f := range values {
			if v := f(t); !math.IsNaN(v) {
				k := Key{device, p}
				d[k] = append(d[k], Sample{T: t, V: v})
			}
		}
	}
}

func constant(v float64) func(time.Time) float64 { return func(time.Time) float64 { return v } }

func workedValues(coal float64) map[string]func(time.Time) float64 {
	return map[string]func(time.Time) float64{
		"steam_flow": constant(10), "steam_pressure": constant(1.25), "feedwater_temp": constant(20),
		"coal_feed": constant(coal), "o2": constant(8), "co": constant(500), "exhaust_temp": constant(160),
	}
}

func find(rs []Result, p Period) []Result {
	var out []Result
	for _, r := range rs {
		if r.Period == p {
			out = append(out, r)
		}
	}
	return out
}

// TestEngineWorkedExample runs the worked example (η ≈ 81.6 %) through the
// engine: every minute and the hour must give it by both methods.
func TestEngineWorkedExample(t *testing.T) {
	t.Parallel()
	coal, eta := workedInputs(t)
	if math.Abs(eta-81.6) > 0.05 {
		t.Fatalf("worked example η = %.2f, want ≈ 81.6", eta)
	}
	e, err := New(oneBoiler(t, "b1"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 15, 9, 0, 0, 0, shanghai)
	d := Data{}
	feed(d, "b1", start, start.Add(time.Hour), 10*time.Second, workedValues(coal))
	b := e.Boilers[0]
	b.Start(start)
	var out Output
	b.Advance(start.Add(time.Hour), d, &out)
	minutes, hours := find(out.Efficiency, Minute), find(out.Efficiency, Hour)
	if len(minutes) != 60 || len(hours) != 1 || len(find(out.Efficiency, Quarter)) != 4 {
		t.Fatalf("got %d minutes, %d quarters, %d hours", len(minutes), len(find(out.Efficiency, Quarter)), len(hours))
	}
	for _, r := range append(minutes[:1], hours...) {
		if !r.HasDirect || !r.HasIndirect {
			t.Fatalf("%s %s: no value: %v", r.Period, r.Start, r.Reasons)
		}
		if math.Abs(r.DirectPct-81.6) > 0.05 || math.Abs(r.IndirectPct-81.6) > 0.05 {
			t.Errorf("%s: direct %.3f, indirect %.3f, want 81.6", r.Period, r.DirectPct, r.IndirectPct)
		}
		// q3 with GB/T 10180's (1 − q4/100), the default: 0.26 × 0.921 = 0.238.
		want := [5]float64{8.01, 0.238, 7.86, 1.7, 0.61}
		for i := range want {
			if math.Abs(r.Q[i]-want[i]) > 0.01 {
				t.Errorf("%s: q%d = %.3f, want %.2f", r.Period, i+2, r.Q[i], want[i])
			}
		}
		if r.Limit != 80 || r.Grade != 3 || r.Samples == 0 {
			t.Errorf("%s: limit %g grade %d samples %d, want 80, 3, > 0", r.Period, r.Limit, r.Grade, r.Samples)
		}
	}
	// 165 kg coal per t of steam, as the reference's cross-check says.
	if h := hours[0]; math.Abs(h.CoalT/h.SteamT*1000-165) > 1.5 {
		t.Errorf("coal per t steam %.1f kg, want ≈ 165", h.CoalT/h.SteamT*1000)
	}
}

// TestMissingInputs: a minute without a needed input has no value and a
// reason, never a zero; the hour, short of 90 % coverage, has none either.
func TestMissingInputs(t *testing.T) {
	t.Parallel()
	coal, _ := workedInputs(t)
	e, err := New(oneBoiler(t, "b1"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 15, 9, 0, 0, 0, shanghai)
	vals := workedValues(coal)
	// O2 analyser fails for 10 minutes; coal scale for the 5th minute.
	vals["o2"] = func(t time.Time) float64 {
		if t.Sub(start) >= 20*time.Minute && t.Sub(start) < 30*time.Minute {
			return math.NaN()
		}
		return 8
	}
	vals["coal_feed"] = func(t time.Time) float64 {
		if t.Sub(start) >= 4*time.Minute && t.Sub(start) < 5*time.Minute {
			return math.NaN()
		}
		return coal
	}
	d := Data{}
	feed(d, "b1", start, start.Add(time.Hour), 10*time.Second, vals)
	b := e.Boilers[0]
	b.Start(start)
	var out Output
	b.Advance(start.Add(time.Hour), d, &out)
	m := find(out.Efficiency, Minute)
	tests := []struct {
		minute             int
		direct, indirect   bool
		reasonContains     string
		quarter, hourValue bool
	}{
		{4, false, true, "direct: coal_feed: no good sample", false, false},
		{20, true, false, "indirect: no good o2", false, false},
		{40, true, true, "", false, false},
	}
	for _, tc := range tests {
		r := m[tc.minute]
		if r.HasDirect != tc.direct || r.HasIndirect != tc.indirect {
			t.Errorf("minute %d: direct %v indirect %v, want %v %v", tc.minute, r.HasDirect, r.HasIndirect, tc.direct, tc.indirect)
		}
		if !r.HasDirect && r.DirectPct != 0 || !r.HasIndirect && r.IndirectPct != 0 {
			t.Errorf("minute %d: a value without its flag", tc.minute)
		}
		if got := strings.Join(r.Reasons, "; "); tc.reasonContains != "" && !strings.Contains(got, tc.reasonContains) {
			t.Errorf("minute %d: reasons %q, want %q", tc.minute, got, tc.reasonContains)
		}
	}
	h := find(out.Efficiency, Hour)[0]
	// 59 of 60 direct minutes: a value; 50 of 60 indirect: none (< 90 %).
	if !h.HasDirect || h.HasIndirect || len(h.Reasons) != 1 || !strings.Contains(h.Reasons[0], "indirect: 50 of 60") {
		t.Errorf("hour: direct %v indirect %v reasons %v", h.HasDirect, h.HasIndirect, h.Reasons)
	}
	if h.HasGrade != h.HasDirect {
		t.Errorf("hour: graded %v although its direct value is %v", h.HasGrade, h.HasDirect)
	}
}

// TestBelowLimitAlert: a boiler whose exhaust temperature climbs crosses
// the 80 % limit once; the alert comes once, after two hours below.
func TestBelowLimitAlert(t *testing.T) {
	t.Parallel()
	coal0, _ := workedInputs(t)
	e, err := New(oneBoiler(t, "b1"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 15, 0, 0, 0, 0, shanghai)
	// Exhaust rises 40 K over the day; coal follows the efficiency so that
	// both methods agree; one hour of missing data after the alert must
	// not raise a second one.
	exh := func(t time.Time) float64 { return 160 + 40*t.Sub(start).Hours()/24 }
	eta := func(t time.Time) float64 {
		r, _ := efficiency.Indirect(efficiency.IndirectInput{
			Coal: efficiency.Coal{LHV: 20000, AshPct: 23}, Coef: efficiency.Coefficients{M: 0.4, N: 3.6, Q3Coef: 3.2, CarbonHeat: 32866, SlagHeat: 560},
			O2Pct: 8, COppm: 500, ExhaustC: exh(t), ColdAirC: 20, SlagFraction: 0.8, SlagCarbonPct: 15, FlyAshFraction: 0.2, FlyAshCarbonPct: 25,
			Q5Rated: 1.7, RatedLoad: 10, ActualLoad: 10})
		return r.Efficiency
	}
	_, eta0 := workedInputs(t)
	vals := workedValues(0)
	vals["exhaust_temp"] = exh
	vals["coal_feed"] = func(t time.Time) float64 {
		if t.Sub(start) >= 20*time.Hour && t.Sub(start) < 21*time.Hour {
			return math.NaN()
		}
		return coal0 * eta0 / eta(t)
	}
	d := Data{}
	feed(d, "b1", start, start.Add(24*time.Hour), 20*time.Second, vals)
	b := e.Boilers[0]
	b.Start(start)
	var out Output
	b.Advance(start.Add(24*time.Hour), d, &out)
	// First hour whose mean is below 80 %: η falls 0.0955 pp/h from 81.6.
	first := -1
	for i, h := range find(out.Efficiency, Hour) {
		if h.HasDirect && h.DirectPct < 80 && first < 0 {
			first = i
		}
	}
	if len(out.Events) != 1 {
		t.Fatalf("%d events, want 1: %+v", len(out.Events), out.Events)
	}
	ev := out.Events[0]
	if ev.Kind != KindBelowLimit || !ev.Since.Equal(start.Add(time.Duration(first)*time.Hour)) || !ev.At.Equal(ev.Since.Add(2*time.Hour)) {
		t.Errorf("event %+v, want since hour %d, at two hours later", ev, first)
	}
	if !strings.Contains(ev.Message, "below the GB 24500-2020 grade-3 limit 80 %") {
		t.Errorf("message %q", ev.Message)
	}
	if len(find(out.Efficiency, Day)) != 1 {
		t.Errorf("want one day")
	}
}

func TestEpisode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		need  int
		seq   string // b below, a above, - missing
		fires string // index of windows that fire (x) or end an alerted episode (e)
	}{
		{"steady below", 2, "abbbbb", "..x..."},
		{"flicker resets", 2, "babbab", "...xe."},
		{"missing breaks the run", 3, "bb-bbb", ".....x"},
		{"missing does not re-alert", 2, "bbb-bb", ".x...."},
		{"recovery ends the episode", 1, "bbabb", "x.ex."},
		{"an episode never alerted does not end", 3, "bbab", "...."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &episode{need: tc.need, step: time.Hour}
			got := ""
			for i, c := range tc.seq {
				switch alert, ended := e.observe(time.Unix(int64(i)*3600, 0), c != '-', c == 'b'); {
				case alert:
					got += "x"
				case ended:
					got += "e"
				default:
					got += "."
				}
			}
			if got != tc.fires {
				t.Errorf("%s: fired %s, want %s", tc.seq, got, tc.fires)
			}
		})
	}
}

// TestResume restores an episode as a restart does: from the stored
// windows before the start and the open event, if any.
func TestResume(t *testing.T) {
	t.Parallel()
	e, err := New(oneBoiler(t, "b1"))
	if err != nil {
		t.Fatal(err)
	}
	b := e.Boilers[0] // below_limit_for 2h, limit 80 %
	at := time.Date(2026, 1, 31, 0, 0, 0, 0, shanghai)
	prev := at.Add(-time.Hour)
	tests := []struct {
		name      string
		open      time.Time
		prior     []Window
		alerted   bool
		run       int
		wantSince time.Time
	}{
		{"nothing stored", time.Time{}, nil, false, 0, time.Time{}},
		{"a run not yet alerted", time.Time{}, []Window{{prev, true, 75, 0.9}}, false, 1, prev},
		{"the window before was above the limit", time.Time{}, []Window{{prev, true, 85, 0.9}}, false, 0, time.Time{}},
		// rated_load basis (the default, share 0.7): an hour below it
		// breaks the run, as it did when computed.
		{"the window before was below rated load", time.Time{}, []Window{{prev, true, 75, 0.69}}, false, 0, time.Time{}},
		{"the window before at exactly the rated share", time.Time{}, []Window{{prev, true, 75, 0.7}}, false, 1, prev},
		{"no load stored", time.Time{}, []Window{{prev, true, 75, 0}}, false, 0, time.Time{}},
		{"an open episode", at.Add(-9 * time.Hour), []Window{{prev, true, 75, 0.9}}, true, 1, prev},
		{"an open episode across a gap", at.Add(-9 * time.Hour), []Window{{prev, false, 0, 0}}, true, 0, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b.Resume(KindBelowLimit, tc.open, tc.prior)
			ep := b.below
			if ep.alerted != tc.alerted || ep.run != tc.run || (tc.run > 0 && !ep.since.Equal(tc.wantSince)) {
				t.Errorf("episode %+v, want alerted %v, run %d since %v", ep, tc.alerted, tc.run, tc.wantSince)
			}
			if tc.alerted && !ep.open.Equal(tc.open) {
				t.Errorf("open %v, want %v", ep.open, tc.open)
			}
		})
	}
}

func TestFloor(t *testing.T) {
	t.Parallel()
	kathmandu := mustLoc("Asia/Kathmandu") // +05:45
	at := time.Date(2026, 3, 31, 23, 52, 30, 0, time.UTC)
	tests := []struct {
		p    Period
		loc  *time.Location
		want string
	}{
		{Minute, shanghai, "2026-04-01T07:52:00+08:00"},
		{Quarter, shanghai, "2026-04-01T07:45:00+08:00"},
		{Day, shanghai, "2026-04-01T00:00:00+08:00"},
		{Month, shanghai, "2026-04-01T00:00:00+08:00"},
		{Hour, kathmandu, "2026-04-01T05:00:00+05:45"},
		{Day, kathmandu, "2026-04-01T00:00:00+05:45"},
		{Month, time.UTC, "2026-03-01T00:00:00Z"},
	}
	for _, tc := range tests {
		if got := Floor(at, tc.p, tc.loc).Format(time.RFC3339); got != tc.want {
			t.Errorf("Floor(%s, %s) = %s, want %s", tc.p, tc.loc, got, tc.want)
		}
	}
	if n := Minutes(time.Date(2026, 2, 1, 0, 0, 0, 0, shanghai), Month); n != 28*1440 {
		t.Errorf("February 2026 has %d minutes", n)
	}
}
