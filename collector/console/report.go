package console

import (
	"context"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// texts of the server-rendered pages (login, report); the single-page UI
// has its own in assets/app.js.
var texts = map[string]map[string]string{
	"zh-CN": {
		"title": "BoilerWatch 能效审计控制台", "login": "登录", "user": "用户名", "password": "密码",
		"login_failed": "用户名或密码错误。", "login_throttled": "登录失败次数过多，请 %d 秒后再试。", "login_busy": "服务器繁忙，请稍后再试。", "report": "月度能效审计报告", "site": "站点", "period": "统计期",
		"generated": "生成时间", "by": "生成人", "tz": "时区", "boilers": "锅炉热效率", "boiler": "锅炉",
		"rated": "额定蒸发量 (t/h)", "method": "考核方法", "direct": "正平衡效率 (%)", "indirect": "反平衡效率 (%)",
		"limit": "GB 24500-2020 三级限定值 (%)", "grade": "能效等级", "verdict": "结论", "pass": "达标", "fail": "低于限定值",
		"unknown": "无数据", "days_below": "低于限定值的天数", "losses": "热损失 q2/q3/q4/q5/q6 (%)",
		"energy": "能源消耗", "meter": "计量器具", "energy_type": "能源种类", "native": "实物量", "unit": "单位",
		"kgce": "折标准煤 (kgce)", "total": "合计", "unit_consumption": "单位产品能耗 (kgce/t 蒸汽)",
		"quality": "数据质量", "completeness": "数据完整率 (%)", "days_ok": "完整率 ≥ 90% 的天数", "gaps": "数据中断次数",
		"resets": "表计复位次数", "statement": "数据质量声明", "events": "告警", "sign": "审核人签字", "date": "日期",
		"no_data": "本期无数据。", "print": "打印", "grade_0": "不达标", "partial": "本月尚未结束：效率为已结束的 %d 天的汇总。",
		"coal": "煤", "electricity": "电", "steam": "蒸汽", "heat": "热", "natural_gas": "天然气", "water": "水",
		"stmt_ok":   "本期共 %d 个计量器具，全部达到国家重点用能单位在线监测要求的数据完整率 90%%（%d 天中 %d 天达标）。",
		"stmt_bad":  "本期共 %d 个计量器具，其中 %s 的数据完整率低于 90%%；相关时段的能耗数据应结合现场记录复核后使用。",
		"stmt_none": "本期无数据质量记录（效率与能耗引擎尚未生成 data_quality），数据完整性无法证明。",
		"ref_note":  "限定值取自 collector/refdata/gb24500-2020.yaml（状态见该文件），用于审计前应与正式出版标准核对。",
	},
	"en": {
		"title": "BoilerWatch audit console", "login": "Log in", "user": "User", "password": "Password",
		"login_failed": "Wrong user name or password.", "login_throttled": "Too many failed logins: try again in %d s.", "login_busy": "The server is busy: try again in a moment.", "report": "Monthly energy audit report", "site": "Site", "period": "Period",
		"generated": "Generated", "by": "By", "tz": "Time zone", "boilers": "Boiler efficiency", "boiler": "Boiler",
		"rated": "Rated output (t/h)", "method": "Method", "direct": "Direct (%)", "indirect": "Indirect (%)",
		"limit": "GB 24500-2020 grade-3 limit (%)", "grade": "Grade", "verdict": "Verdict", "pass": "meets the limit", "fail": "below the limit",
		"unknown": "no data", "days_below": "Days below the limit", "losses": "Losses q2/q3/q4/q5/q6 (%)",
		"energy": "Energy consumption", "meter": "Meter", "energy_type": "Energy type", "native": "Amount", "unit": "Unit",
		"kgce": "Standard coal (kgce)", "total": "Total", "unit_consumption": "Unit consumption (kgce/t steam)",
		"quality": "Data quality", "completeness": "Completeness (%)", "days_ok": "Days with completeness ≥ 90 %", "gaps": "Gaps",
		"resets": "Meter resets", "statement": "Data-quality statement", "events": "Alerts", "sign": "Auditor's signature", "date": "Date",
		"no_data": "No data for this period.", "print": "Print", "grade_0": "below grade 3", "partial": "The month is not over: efficiency sums up its %d closed days.",
		"coal": "coal", "electricity": "electricity", "steam": "steam", "heat": "heat", "natural_gas": "natural gas", "water": "water",
		"stmt_ok":   "All %d meters met the 90 %% completeness the national online-monitoring system requires (%[3]d of %[2]d days met it).",
		"stmt_bad":  "Of %d meters, %s fell below 90 %% completeness; their consumption in the affected days must be checked against site records before use.",
		"stmt_none": "No data-quality records for this period (the efficiency and energy engine has not written data_quality): completeness cannot be shown.",
		"ref_note":  "Limits come from collector/refdata/gb24500-2020.yaml (see its status); check them against the published standard before an audit.",
	},
}

func dict(lang string) map[string]string {
	if t, ok := texts[lang]; ok {
		return t
	}
	return texts["zh-CN"]
}

var templateFuncs = template.FuncMap{
	"num": func(p *float64, prec int) string {
		if p == nil || math.IsNaN(*p) {
			return "—"
		}
		return fmt.Sprintf("%.*f", prec, *p)
	},
	"f": func(v float64, prec int) string { return fmt.Sprintf("%.*f", prec, v) },
}

type reportBoiler struct {
	Name, Method           string
	Rated                  float64
	Direct, Indirect, Lim  *float64
	Q                      [5]*float64
	Grade                  string
	Verdict                string
	DaysBelow, DaysWithVal int
}

type reportMeter struct {
	Meter, Type, Unit string
	Native, Kgce      float64
	Has               bool
}

type reportQuality struct {
	Meter               string
	Completeness        *float64
	DaysOK, Days        int
	Gaps, Resets        float64
	HasGaps, HasResets  bool
	BelowThreshold      bool
	ReceivedSum, ExpSum float64
}

type reportData struct {
	Lang, Month, User, Generated string
	Site                         siteInfo
	T                            map[string]string
	Boilers                      []reportBoiler
	Meters                       []reportMeter
	TypeTotals                   []reportMeter
	TotalKgce                    float64
	UnitCons                     []struct {
		Name  string
		Value *float64
	}
	Quality   []reportQuality
	Statement string
	// Partial says the boiler figures sum up the month's days so far.
	Partial string
	Events  []event
	Loc     *time.Location
}

// report renders the printable monthly audit report of a site.
func (c *Console) report(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	q := r.URL.Query()
	siteID, err := name(q, "site", true)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	site, err := c.knownSite(ctx, siteID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	rng, err := parseMonth(q.Get("month"), site.loc, c.now())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d, err := c.reportData(ctx, site, rng, language(r))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.User = sessionFrom(ctx).user
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := c.tmpl.ExecuteTemplate(w, "report.html", d); err != nil {
		c.log.Error("report", "error", err)
	}
}

func (c *Console) reportData(ctx context.Context, site siteInfo, rng timeRange, lang string) (*reportData, error) {
	t := dict(lang)
	d := &reportData{Lang: lang, T: t, Site: site, Loc: site.loc, Month: rng.Start.Format("2006-01"),
		Generated: c.now().In(site.loc).Format("2006-01-02 15:04 MST")}
	var boilers []boilerInfo
	var eff, dq, evt []row
	var monthly, daily []meterRow
	bucket := fluxString(c.opts.Store.Bucket())
	err := parallel(
		func() (err error) { boilers, err = c.boilers(ctx, site.ID); return err },
		func() (err error) {
			eff, err = queryRows(ctx, c.opts.Store, fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "boiler_efficiency" and r.site == %s and (r.period == "1mo" or r.period == "1d"))
  |> filter(fn: (r) => %s)`, bucket, fluxTime(rng.Start), fluxTime(rng.Stop), fluxString(site.ID),
				fieldFilter([]string{"direct", "indirect", "limit", "grade", "q2", "q3", "q4", "q5", "q6", "heat_out_gj", "heat_in_gj", "minutes"})))
			return err
		},
		func() (err error) { monthly, err = c.energyRows(ctx, site.ID, "1mo", rng); return err },
		func() (err error) { daily, err = c.energyRows(ctx, site.ID, "1d", rng); return err },
		func() (err error) {
			dq, err = queryRows(ctx, c.opts.Store, fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "data_quality" and r.site == %s and r.period == "1d" and r.kind == "completeness")`, bucket, fluxTime(rng.Start), fluxTime(rng.Stop), fluxString(site.ID)))
			return err
		},
		func() (err error) { evt, err = c.events(ctx, site.ID, rng); return err },
	)
	if err != nil {
		return nil, err
	}
	// Boilers: the monthly values, and how many days fell below the limit.
	for _, b := range boilers {
		rb := reportBoiler{Name: b.Name, Method: b.Method, Rated: b.RatedSteam, Lim: b.Limit}
		if rb.Method == "" {
			rb.Method = "direct"
		}
		days := map[int64]map[string]float64{}
		for _, r := range eff {
			if r.Tags["boiler"] != b.Name {
				continue
			}
			f, ok := r.Float()
			if !ok {
				continue
			}
			if r.Tags["period"] == "1d" {
				if days[r.Time.Unix()] == nil {
					days[r.Time.Unix()] = map[string]float64{}
				}
				days[r.Time.Unix()][r.Field] = f
				continue
			}
			switch r.Field {
			case "direct":
				rb.Direct = &f
			case "indirect":
				rb.Indirect = &f
			case "limit":
				if rb.Lim == nil {
					rb.Lim = &f
				}
			case "grade":
				rb.Grade = fmt.Sprintf("%.0f", f)
				if f == 0 {
					rb.Grade = t["grade_0"]
				}
			default:
				if i := int(r.Field[1] - '2'); len(r.Field) == 2 && i >= 0 && i < 5 {
					rb.Q[i] = &f
				}
			}
		}
		if rb.Direct == nil && rb.Indirect == nil && len(days) > 0 {
			d.Partial = fmt.Sprintf(t["partial"], len(days))
			monthFromDays(&rb, days)
		}
		for _, m := range days {
			v, ok := m[rb.Method]
			if !ok {
				continue
			}
			rb.DaysWithVal++
			lim := m["limit"]
			if rb.Lim != nil && lim == 0 {
				lim = *rb.Lim
			}
			if lim > 0 && v < lim {
				rb.DaysBelow++
			}
		}
		val := rb.Direct
		if rb.Method == "indirect" {
			val = rb.Indirect
		}
		switch {
		case val == nil || rb.Lim == nil:
			rb.Verdict = t["unknown"]
		case *val >= *rb.Lim:
			rb.Verdict = t["pass"]
		default:
			rb.Verdict = t["fail"]
		}
		d.Boilers = append(d.Boilers, rb)
	}
	// Energy: the monthly values; while the month is open, the sum of its
	// days.
	src := monthly
	if len(src) == 0 {
		src = daily
	}
	byMeter := map[string]*reportMeter{}
	for _, m := range src {
		x := byMeter[m.meter]
		if x == nil {
			x = &reportMeter{Meter: m.meter, Type: m.energyType, Unit: m.unit}
			byMeter[m.meter] = x
		}
		if m.native != nil {
			x.Native += *m.native
			x.Has = true
		}
		if m.kgce != nil {
			x.Kgce += *m.kgce
		}
	}
	byType := map[string]*reportMeter{}
	for _, k := range sortedKeys(byMeter) {
		m := byMeter[k]
		d.Meters = append(d.Meters, *m)
		tt := byType[m.Type]
		if tt == nil {
			tt = &reportMeter{Type: m.Type, Unit: m.Unit}
			byType[m.Type] = tt
		}
		if tt.Unit != m.Unit {
			tt.Unit = ""
		}
		tt.Native += m.Native
		tt.Kgce += m.Kgce
		d.TotalKgce += m.Kgce
	}
	for _, k := range sortedKeys(byType) {
		d.TypeTotals = append(d.TypeTotals, *byType[k])
	}
	for _, s := range c.unitConsumptionSpecs(site.ID, src) {
		var kgce, steam float64
		for _, m := range src {
			switch {
			case slices.Contains(s.Energy, m.meter) && m.kgce != nil:
				kgce += *m.kgce
			case slices.Contains(s.Product, m.meter) && m.native != nil:
				steam += tonnes(*m.native, m.unit)
			}
		}
		var v *float64
		if steam > 0 {
			x := kgce / steam
			v = &x
		}
		d.UnitCons = append(d.UnitCons, struct {
			Name  string
			Value *float64
		}{s.Name, v})
	}
	// Data quality per meter over the month's days.
	qs := map[string]*reportQuality{}
	type dayKey struct {
		meter string
		t     int64
	}
	dayVals := map[dayKey]map[string]float64{}
	for _, r := range dq {
		m := r.Tags["meter"]
		if m == "" {
			m = r.Tags["device"]
		}
		f, ok := r.Float()
		if !ok {
			continue
		}
		k := dayKey{m, r.Time.Unix()}
		if dayVals[k] == nil {
			dayVals[k] = map[string]float64{}
		}
		dayVals[k][r.Field] = f
	}
	for k, vals := range dayVals {
		x := qs[k.meter]
		if x == nil {
			x = &reportQuality{Meter: k.meter}
			qs[k.meter] = x
		}
		x.Days++
		if vals["completeness"] >= 90 {
			x.DaysOK++
		}
		x.ReceivedSum += vals["received"]
		x.ExpSum += vals["expected"]
		if x.Completeness == nil {
			x.Completeness = new(float64)
		}
		*x.Completeness += vals["completeness"]
	}
	// Gaps and resets are counted by the engine per meter and day in
	// energy.
	for _, m := range daily {
		x := qs[m.meter]
		if x == nil {
			continue
		}
		if m.gaps != nil {
			x.Gaps += *m.gaps
			x.HasGaps = true
		}
		if m.resets != nil {
			x.Resets += *m.resets
			x.HasResets = true
		}
	}
	var below []string
	daysOK, days := 0, 0
	for _, k := range sortedKeys(qs) {
		x := qs[k]
		if x.ExpSum > 0 {
			v := min(100, 100*x.ReceivedSum/x.ExpSum)
			x.Completeness = &v
		} else if x.Completeness != nil && x.Days > 0 {
			*x.Completeness /= float64(x.Days)
		}
		x.BelowThreshold = x.Completeness != nil && *x.Completeness < 90
		if x.BelowThreshold {
			below = append(below, x.Meter)
		}
		daysOK += x.DaysOK
		days += x.Days
		d.Quality = append(d.Quality, *x)
	}
	switch {
	case len(d.Quality) == 0:
		d.Statement = t["stmt_none"]
	case len(below) == 0:
		d.Statement = fmt.Sprintf(t["stmt_ok"], len(d.Quality), days, daysOK)
	default:
		d.Statement = fmt.Sprintf(t["stmt_bad"], len(d.Quality), strings.Join(below, ", "))
	}
	d.Events = collectEvents(evt)
	return d, nil
}

// monthFromDays sums up a month that has no monthly value yet from its
// days, as the engine sums periods: direct = Σ output heat / Σ input heat;
// the indirect efficiency and the losses weighted by the minutes each day
// covers.
func monthFromDays(rb *reportBoiler, days map[int64]map[string]float64) {
	var out, in, w, ind float64
	var q [5]float64
	for _, m := range days {
		if _, ok := m["direct"]; ok {
			out += m["heat_out_gj"]
			in += m["heat_in_gj"]
		}
		if v, ok := m["indirect"]; ok {
			wt := m["minutes"]
			if wt <= 0 {
				wt = 1
			}
			w += wt
			ind += wt * v
			for i := range q {
				q[i] += wt * m[fmt.Sprintf("q%d", i+2)]
			}
		}
	}
	if in > 0 {
		v := 100 * out / in
		rb.Direct = &v
	}
	if w > 0 {
		v := ind / w
		rb.Indirect = &v
		for i := range q {
			x := q[i] / w
			rb.Q[i] = &x
		}
	}
}
