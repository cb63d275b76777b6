package console

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/console/consoletest"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

func fptr(v float64) *float64 { return &v }

func TestCheckSum(t *testing.T) {
	// 0.1 thirty-one times is not 3.1 in binary: the month the engine
	// builds from its days in order is their sum to the last bit.
	days := make([]float64, 31)
	var month float64
	for i := range days {
		days[i] = 0.1
		month += 0.1
	}
	if c := checkSum("m", "native", "t", days, &month); !c.HasMonth || !c.Exact || !c.WithinRule || c.Diff != 0 {
		t.Errorf("same sum: %+v", c)
	}
	// A month short by 48 % (a restart that dropped the open aggregates).
	c := checkSum("m", "native", "kWh", []float64{22320, 22320}, fptr(23040))
	if c.Exact || c.WithinRule || c.Diff != 21600 || fmt.Sprintf("%.2f", c.DiffPct) != "48.39" {
		t.Errorf("short month: %+v", c)
	}
	// 3 % off: the rule's 5 % passes, ours does not.
	c = checkSum("m", "kgce", "kgce", []float64{50, 53}, fptr(100))
	if c.Exact || !c.WithinRule {
		t.Errorf("3 %% off: %+v", c)
	}
	if c := checkSum("m", "native", "t", []float64{1}, nil); c.HasMonth || c.Exact {
		t.Errorf("no month: %+v", c)
	}
}

func TestMeterAndBoilerSumChecks(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	d1, d2 := time.Date(2025, 12, 1, 0, 0, 0, 0, loc), time.Date(2025, 12, 2, 0, 0, 0, 0, loc)
	// Days out of order: summed in time order.
	daily := []meterRow{
		{time: d2, meter: "a", unit: "t", native: fptr(2), kgce: fptr(20)},
		{time: d1, meter: "a", unit: "t", native: fptr(1), kgce: fptr(10)},
		{time: d1, meter: "b", unit: "kWh", native: fptr(5), kgce: fptr(0.6)},
	}
	monthly := []meterRow{{time: d1, meter: "a", unit: "t", native: fptr(3), kgce: fptr(30)}, {time: d1, meter: "b", unit: "kWh", native: fptr(4), kgce: fptr(0.6)}}
	got := meterSumChecks(daily, monthly)
	if len(got) != 4 {
		t.Fatalf("%d checks: %+v", len(got), got)
	}
	want := []struct {
		subject, q string
		exact      bool
	}{{"a", "native", true}, {"a", "kgce", true}, {"b", "native", false}, {"b", "kgce", true}}
	for i, w := range want {
		if got[i].Subject != w.subject || got[i].Quantity != w.q || got[i].Exact != w.exact {
			t.Errorf("check %d: %+v, want %+v", i, got[i], w)
		}
	}
	eff := []row{
		{Time: d1, Field: "steam_t", Value: 100.0, Tags: map[string]string{"boiler": "b1", "period": "1d"}},
		{Time: d2, Field: "steam_t", Value: 120.0, Tags: map[string]string{"boiler": "b1", "period": "1d"}},
		{Time: d1, Field: "steam_t", Value: 220.0, Tags: map[string]string{"boiler": "b1", "period": "1mo"}},
		{Time: d1, Field: "coal_t", Value: 15.0, Tags: map[string]string{"boiler": "b1", "period": "1d"}},
		{Time: d1, Field: "direct", Value: 80.0, Tags: map[string]string{"boiler": "b1", "period": "1d"}},
	}
	bs := boilerSumChecks(eff)
	if len(bs) != 2 || !bs[0].Exact || bs[0].Quantity != "steam_t" || bs[1].HasMonth || bs[1].DaySum != 15 {
		t.Errorf("boiler checks: %+v", bs)
	}
}

func TestCompletenessChecks(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	rng := timeRange{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, loc), Stop: time.Date(2026, 2, 1, 0, 0, 0, 0, loc), Loc: loc}
	now := time.Date(2026, 1, 5, 10, 0, 0, 0, loc) // days 1–4 closed
	var dq []row
	for d := 1; d <= 4; d++ {
		v := 99.0
		if d == 3 {
			v = 85.5
		}
		if d != 4 {
			dq = append(dq, row{Time: time.Date(2026, 1, d, 0, 0, 0, 0, loc), Field: "completeness", Value: v, Tags: map[string]string{"meter": "power"}})
		}
		dq = append(dq, row{Time: time.Date(2026, 1, d, 0, 0, 0, 0, loc), Field: "completeness", Value: 100.0, Tags: map[string]string{"meter": "steam"}})
	}
	got := completenessChecks(dq, rng, loc, now)
	if len(got) != 2 {
		t.Fatalf("%+v", got)
	}
	p, s := got[0], got[1]
	if p.Subject != "power" || p.Pass || p.Days != 4 || p.OK != 2 || strings.Join(p.Below, ";") != "01-03 (85.5 %)" || strings.Join(p.NoRec, ";") != "01-04" {
		t.Errorf("power: %+v", p)
	}
	if s.Subject != "steam" || !s.Pass || s.OK != 4 {
		t.Errorf("steam: %+v", s)
	}
}

func TestCheckAlignment(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	days := []time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, loc), time.Date(2026, 1, 2, 0, 0, 0, 0, loc)}
	months := []time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, loc)}
	if c := checkAlignment(loc, "Asia/Shanghai", days, months); !c.Pass || c.DayPoints != 2 || c.Months != 1 {
		t.Errorf("aligned: %+v", c)
	}
	// Days cut at UTC midnight (08:00 in Shanghai) and a month on the 2nd.
	utc := []time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := checkAlignment(loc, "Asia/Shanghai", utc, []time.Time{time.Date(2026, 1, 2, 0, 0, 0, 0, loc)})
	if c.Pass || strings.Join(c.Bad, "; ") != "2026-01-01 08:00 (1d); 2026-01-02 00:00 (1mo)" {
		t.Errorf("misaligned: %+v", c)
	}
	if c := checkAlignment(loc, "Asia/Shanghai", nil, nil); c.Pass {
		t.Errorf("nothing to check passes: %+v", c)
	}
}

func TestSubstitutions(t *testing.T) {
	fw, cold := 20.0, 15.0
	c := &Console{opts: Options{Energy: &config.Energy{
		Boilers: []config.Boiler{{Name: "b1", Site: "s", FeedwaterC: &fw, ColdAirC: &cold}},
		Meters: []config.Meter{{Name: "steam-ref", Site: "s", EnergyType: "steam"}, {Name: "coal-x", Site: "s", EnergyType: "coal"},
			{Name: "other", Site: "t", EnergyType: "steam"}},
	}}}
	got := strings.Join(c.substitutions("s", dict("en")), "\n")
	for _, w := range []string{"b1: feedwater temperature the configured 20 °C", "b1: cold-air temperature the configured 15 °C",
		"b1: CO not metered", "b1: q5 from the refdata table", "steam-ref: no pressure configured", "coal-x: no LHV configured"} {
		if !strings.Contains(got, w) {
			t.Errorf("substitutions lack %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "other") {
		t.Errorf("another site's meter listed:\n%s", got)
	}
}

// TestReportChecks renders the report of a closed month (December 2025)
// whose steam meter has an incomplete day (the 7th, 80 %) and two hours of
// estimated minutes, and whose power meter's month is short of its days
// (the restart of issue 13) and lacks the record of the 20th: the checks
// section names each with its result.
func TestReportChecks(t *testing.T) {
	in := servicetest.StartInflux(t)
	loc := shanghai(t)
	st := store.Open(store.Config{URL: in.URL, Bucket: in.Bucket})
	t.Cleanup(st.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := st.EnsureDatabase(ctx); err != nil {
		t.Fatal(err)
	}
	const site = "plant-c"
	w := &consoletest.Writer{URL: in.URL, Bucket: in.Bucket}
	add := func(format string, a ...any) {
		if err := w.Add(ctx, fmt.Sprintf(format, a...)); err != nil {
			t.Fatal(err)
		}
	}
	month := time.Date(2025, 12, 1, 0, 0, 0, 0, loc)
	var steamSum, steamKgce, powerSum, boilerSteam float64
	for d := 0; d < 31; d++ {
		day := month.AddDate(0, 0, d)
		ns := day.Unix()
		native, kgce := 100.1+float64(d)*0.01, 9210.3+float64(d)*0.7
		steamSum += native
		steamKgce += kgce
		est, lk, coef := 0, 0, 0
		if d == 4 {
			est, lk, coef = 120, 60, 60
		}
		add(`energy,site=%s,meter=steam-c,energy_type=steam,period=1d native=%v,unit="t",kgce=%v,fallback_minutes=%di,last_known_minutes=%di,coefficient_minutes=%di,estimated=%v %d`,
			site, native, kgce, est, lk, coef, 100*float64(est)/1440, ns)
		add(`energy,site=%s,meter=power-c,energy_type=electricity,period=1d native=1440,unit="kWh",kgce=176.976 %d`, site, ns)
		powerSum += 1440
		c := 100.0
		if d == 6 {
			c = 80
		}
		add(`data_quality,site=%s,meter=steam-c,period=1d,kind=completeness received=%di,expected=1440,completeness=%v,flagged=%v %d`, site, int(c*14.4), c, c < 90, ns)
		if d != 19 {
			add(`data_quality,site=%s,meter=power-c,period=1d,kind=completeness received=1440i,expected=1440,completeness=100,flagged=false %d`, site, ns)
		}
		cov := 100.0
		if d == 9 {
			cov = 50
		}
		add(`boiler_efficiency,site=%s,boiler=b-c,period=1d steam_t=200.1,coverage=%v,minutes=1440i %d`, site, cov, ns)
		boilerSteam += 200.1
	}
	mns := month.Unix()
	add(`boiler_efficiency,site=%s,boiler=b-c,period=1mo steam_t=%v,coverage=98.4,minutes=44640i %d`, site, boilerSteam, mns)
	add(`energy,site=%s,meter=steam-c,energy_type=steam,period=1mo native=%v,unit="t",kgce=%v,fallback_minutes=120i,last_known_minutes=60i,coefficient_minutes=60i,estimated=%v %d`,
		site, steamSum, steamKgce, 100*120.0/44640, mns)
	add(`energy,site=%s,meter=power-c,energy_type=electricity,period=1mo native=%v,unit="kWh",kgce=2831.616 %d`, site, powerSum/2, mns)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 15, 10, 30, 0, 0, loc)
	con, err := New(Options{Store: st, Now: func() time.Time { return now }, Config: config.Console{
		Users: testUsers(t), Location: loc, SecureCookie: "auto",
		Sites: []config.ConsoleSite{{ID: site, Title: "核查电厂", Location: loc}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(con.Handler())
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv, con: con, st: st, loc: loc, start: now}
	c := f.login(t, "auditor")
	code, _, body := get(t, c, srv.URL+"/report?site="+site+"&month=2025-12&lang=en")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	page := string(body)
	section := page[strings.Index(page, `id="report-checks"`):]
	section = section[:strings.Index(section, "</section>")]
	energy := page[strings.Index(page, `id="report-energy"`):]
	energy = energy[:strings.Index(energy, "</table>")]
	for _, w := range []struct{ where, text string }{
		{section, "Online-monitoring rule checks"},
		{section, `id="check-align" class="ok">pass · Time zone Asia/Shanghai: all 31 daily and 1 monthly timestamps aligned.`},
		{section, `id="check-sum" class="bad">fail`},
		{section, `<tr><td>steam-c</td><td>amount</td><td>t</td><td class="n">` + fmt.Sprintf("%.3f", steamSum)},
		{section, `<td class="n">0.000</td><td class="n">0.00</td><td>pass</td><td>pass</td></tr>`},
		{section, `<tr class="bad"><td>power-c</td><td>amount</td><td>kWh</td><td class="n">44640.000</td><td class="n">22320.000</td><td class="n">22320.000</td><td class="n">50.00</td><td>fail</td><td>fail</td></tr>`},
		{section, `id="check-days" class="bad">fail`},
		{section, `<tr class="bad"><td>steam-c</td><td class="n">31</td><td class="n">30</td><td>12-07 (80.0 %)</td><td>—</td><td>fail</td></tr>`},
		{section, `<tr class="bad"><td>power-c</td><td class="n">31</td><td class="n">30</td><td>—</td><td>12-20</td><td>fail</td></tr>`},
		{section, `<tr class="bad"><td>b-c (boiler: minutes with a value)</td><td class="n">31</td><td class="n">30</td><td>12-10 (50.0 %)</td><td>—</td><td>fail</td></tr>`},
		{section, `<tr><td>b-c</td><td>steam (t)</td><td>t</td><td class="n">` + fmt.Sprintf("%.3f", boilerSteam)},
		// 120 of the month's 44,640 minutes estimated: 60 by the last
		// known enthalpy, 60 by the coefficient.
		{energy, `<td class="n est">0.3</td><td class="n">60 / 60</td>`},
		{page, "Estimated: a steam meter without pressure"},
	} {
		if !strings.Contains(w.where, w.text) {
			t.Errorf("report lacks %q", w.text)
		}
	}
	if t.Failed() {
		t.Logf("checks section:\n%s\nenergy:\n%s", section, energy)
	}
	// The energy page's meters and totals frames carry the estimated
	// share and minutes by kind; the quality page's days the share.
	v := f.view(t, c, "/api/energy?site="+site+"&period=1d&start=2025-12-05&stop=2025-12-06")
	mf := frameOf(t, v, "meters")
	est, lk, co := column(t, mf, "estimated"), column(t, mf, "last_known_minutes"), column(t, mf, "coefficient_minutes")
	meters, times := column(t, mf, "meter"), column(t, mf, "time")
	dec5, seen := float64(time.Date(2025, 12, 5, 0, 0, 0, 0, loc).Unix()), 0
	for i := range meters {
		if times[i] != dec5 {
			continue
		}
		seen++
		if meters[i] == "steam-c" && (fmt.Sprint(est[i]) != fmt.Sprint(100*120.0/1440) || lk[i] != 60.0 || co[i] != 60.0) {
			t.Errorf("steam-c on 12-05: estimated %v, last known %v, coefficient %v", est[i], lk[i], co[i])
		}
		if meters[i] == "power-c" && (est[i] != nil || lk[i] != nil) {
			t.Errorf("power-c tells no estimates, got %v %v", est[i], lk[i])
		}
	}
	if seen != 2 {
		t.Errorf("%d meter rows on 12-05, want 2 (times %v)", seen, times)
	}
	tf := frameOf(t, v, "totals")
	if got := column(t, tf, "last_known_minutes"); len(got) != 2 || got[1] != 60.0 {
		t.Errorf("totals last known minutes %v", got)
	}
	// The same in Chinese.
	_, _, body = get(t, c, srv.URL+"/report?site="+site+"&month=2025-12&lang=zh-CN")
	for _, w := range []string{"在线监测规则核查", "日值之和与月值一致", "12-07 (80.0 %)", "不通过"} {
		if !strings.Contains(string(body), w) {
			t.Errorf("zh-CN report lacks %q", w)
		}
	}
}
