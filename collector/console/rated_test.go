package console

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/console/consoletest"
)

// seededRatedMonth is the rated-load efficiency of the seeded days from
// first up to (not including) stop, summed as the engine sums a month:
// Σ output / Σ input heat of the rated-load hours (consoletest's formulas).
func seededRatedMonth(first, stop time.Time) (pct, hours float64) {
	var out, in float64
	for d := first; d.Before(stop); d = d.AddDate(0, 0, 1) {
		x := consoletest.Wave(d)
		rh := math.Round(0.6 * 24)
		i := (7 + 2*x) * 0.17 * rh * 20
		in += i
		out += i * consoletest.RatedEfficiency(d) / 100
		hours += rh
	}
	return 100 * out / in, hours
}

// testRated: the boiler view gives the rated-load efficiency of the last
// closed day and of its month (from its days while it is open, the
// monthly value once it closed) beside all hours'; the monthly report
// shows the month's in its boiler table and says that the comparison
// with the limit is an operating indication.
func testRated(t *testing.T, f *fixture, c *http.Client) {
	day := time.Date(2026, 1, 14, 0, 0, 0, 0, f.loc)
	month := time.Date(2026, 1, 1, 0, 0, 0, 0, f.loc)
	monthPct, monthHours := seededRatedMonth(month, day.AddDate(0, 0, 1))
	dec := time.Date(2025, 12, 1, 0, 0, 0, 0, f.loc)
	dir, _, _ := consoletest.Efficiency(day)
	for _, tc := range []struct {
		rng                string
		day, month         time.Time
		dayPct, dayAll     float64
		monthPct, monthHrs float64
		partial            bool
	}{
		{"24h", day, month, consoletest.RatedEfficiency(day), dir, monthPct, monthHours, true},
		{"lastmonth", time.Date(2025, 12, 31, 0, 0, 0, 0, f.loc), dec,
			consoletest.RatedEfficiency(time.Date(2025, 12, 31, 0, 0, 0, 0, f.loc)), 0, consoletest.RatedEfficiency(dec), math.Round(0.6 * 744), false},
	} {
		t.Run(tc.rng, func(t *testing.T) {
			v := f.view(t, c, "/api/boiler?site="+testSite+"&boiler="+boilerName+"&range="+tc.rng)
			r, ok := v.Info["rated"].(map[string]any)
			if !ok {
				t.Fatalf("no info.rated in %v", v.Info)
			}
			d, _ := r["day"].(map[string]any)
			m, _ := r["month"].(map[string]any)
			num := func(x map[string]any, k string) float64 { f, _ := x[k].(float64); return f }
			if int64(num(d, "start")) != tc.day.Unix() || math.Abs(num(d, "rated_pct")-tc.dayPct) > 0.001 || num(d, "rated_hours") != 14 {
				t.Errorf("day %v, want %s at %.3f %% over 14 h (range %v..%v)", d, tc.day.Format("01-02"), tc.dayPct, time.Unix(v.Start, 0).In(f.loc), time.Unix(v.Stop, 0).In(f.loc))
			}
			if tc.dayAll != 0 && math.Abs(num(d, "all_hours_pct")-tc.dayAll) > 0.001 {
				t.Errorf("day all hours %v, want %.3f", d["all_hours_pct"], tc.dayAll)
			}
			if int64(num(m, "start")) != tc.month.Unix() || math.Abs(num(m, "rated_pct")-tc.monthPct) > 0.01 ||
				num(m, "rated_hours") != tc.monthHrs || (m["partial"] == true) != tc.partial {
				t.Errorf("month %v, want %s at %.3f %% over %.0f h (partial %v)", m, tc.month.Format("2006-01"), tc.monthPct, tc.monthHrs, tc.partial)
			}
			if tc.partial && num(m, "days") != 14 {
				t.Errorf("month so far: %v days, want 14", m["days"])
			}
		})
	}
	for _, tc := range []struct {
		lang, month string
		want        []string
	}{
		{"zh-CN", "2026-01", []string{"额定负荷效率 (%)", "额定负荷小时数", "结论（运行指示）", "运行指示",
			fmt.Sprintf(`<td class="n rated">%.1f</td><td class="n">%.0f</td>`, monthPct, monthHours)}},
		{"en", "2025-12", []string{"Rated-load efficiency (%)", "Verdict (operating indication)", "limits are met in rated-load tests",
			fmt.Sprintf(`<td class="n rated">%.1f</td><td class="n">446</td>`, consoletest.RatedEfficiency(dec)),
			// December's seeded days, 11 to 31: not 1 January's too, which
			// InfluxDB 1.8 returns at the range's stop.
			" / 21</td>"}},
	} {
		code, _, body := get(t, c, f.srv.URL+"/report?site="+testSite+"&month="+tc.month+"&lang="+tc.lang)
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(body), w) {
				t.Errorf("%s report of %s lacks %q", tc.lang, tc.month, w)
			}
		}
	}
}
