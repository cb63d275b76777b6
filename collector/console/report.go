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

	"github.com/boilerwatch/boilerwatch/collector/store"
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
		"unknown": "无数据", "days_below": "日效率低于限定值的天数", "episode_days": "有低于限定值告警的天数", "losses": "热损失 q2/q3/q4/q5/q6 (%)",
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
		"estimated": "估算占比 (%)", "estimated_by": "其中：沿用最近焓差 / 按折标系数（分钟）",
		"est_note": "估算：蒸汽表计缺压力（或温度）时，在 estimate_within 内沿用最近测得的焓差，超出则按 GB/T 2589 折标系数；煤、天然气无有效低位发热量时按折标系数。",
		"checks":   "在线监测规则核查", "check": "核查项", "result": "结果", "check_pass": "通过", "check_fail": "不通过", "check_na": "无法核查",
		"chk_sum": "日值之和与月值一致（本系统要求完全一致；规则允许 5%）", "subject": "对象", "quantity": "量", "day_sum": "日值之和", "month_value": "月值", "diff": "差值", "diff_pct": "差值 (%)", "rule_5": "规则 5%",
		"q_native": "实物量", "q_kgce": "折标煤", "q_steam_t": "蒸汽 (t)", "q_coal_t": "燃煤 (t)", "no_month": "月值尚未生成（月份未结束）",
		"chk_days": "每日数据完整率 ≥ 90%", "days_checked": "已结束天数", "days_below_90": "低于 90% 的日期", "days_no_record": "无记录的日期", "boiler_cov": "（锅炉：有效分钟覆盖率）",
		"chk_align": "日统计自当地 00:00 起、月统计自 1 日 00:00 起", "align_ok": "时区 %s：%d 个日值、%d 个月值的时间戳全部对齐。", "align_bad": "时区 %s：以下时间戳未对齐：%s", "align_none": "时区 %s：本期没有日值或月值可核查。",
		"subs": "以配置常数代替测量的输入", "sub_feedwater": "%s：给水温度按配置常数 %g °C", "sub_cold_air": "%s：冷空气温度按配置常数 %g °C",
		"sub_co": "%s：未计量 CO，q3 按 CO = 0 计算", "sub_q5": "%s：q5 取 refdata 表值（非锅炉测试报告）",
		"sub_steam_coef": "%s：未配置压力，蒸汽全部按折标系数 0.1286 kgce/kg", "sub_lhv_coef": "%s：未配置低位发热量，按 GB/T 2589 折标系数",
		"rated_pct": "额定负荷效率 (%)", "rated_hours": "额定负荷小时数", "verdict_ind": "结论（运行指示）",
		"rated_note":  "GB 24500 限定值适用于额定负荷下的测试：全部小时（及逐时、逐日）效率与限定值的比较只是运行指示。额定负荷效率为平均负荷不低于额定出力一定比例（rated_load_share，默认 70%）的小时按考核方法计算的效率（Σ 输出热量 / Σ 输入热量），是更接近限定值条件的比较。",
		"rated_share": "%s：额定负荷小时指负荷 ≥ %.0f%% 的小时",
		"episodes":    "低于限定值的运行时段（告警 efficiency_below_limit）", "ep_hours": "时段", "ep_len": "小时数", "ep_open": "未记录结束",
		"ep_none": "本期没有低于限定值的告警。",
		"ep_note": "日效率按一天全部小时计算，几个小时的异常很少使日效率低于限定值；此表列出逐时效率连续低于限定值达到告警时长（below_limit_for，默认只计额定负荷小时）的时段，按日期拆分，与告警一致，属运行指示。“未记录结束”的时段计至报告生成前最后一个整点、该锅炉下一次告警或月末，小时数为下限。",
	},
	"en": {
		"title": "BoilerWatch audit console", "login": "Log in", "user": "User", "password": "Password",
		"login_failed": "Wrong user name or password.", "login_throttled": "Too many failed logins: try again in %d s.", "login_busy": "The server is busy: try again in a moment.", "report": "Monthly energy audit report", "site": "Site", "period": "Period",
		"generated": "Generated", "by": "By", "tz": "Time zone", "boilers": "Boiler efficiency", "boiler": "Boiler",
		"rated": "Rated output (t/h)", "method": "Method", "direct": "Direct (%)", "indirect": "Indirect (%)",
		"limit": "GB 24500-2020 grade-3 limit (%)", "grade": "Grade", "verdict": "Verdict", "pass": "meets the limit", "fail": "below the limit",
		"unknown": "no data", "days_below": "Days below the limit (daily efficiency)", "episode_days": "Days alerted below limit", "losses": "Losses q2/q3/q4/q5/q6 (%)",
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
		"estimated": "Estimated (%)", "estimated_by": "of which last known enthalpy / by coefficient (min)",
		"est_note": "Estimated: a steam meter without pressure (or temperature) uses the last enthalpy difference metered within estimate_within, beyond it the GB/T 2589 coefficient; coal and gas without an LHV in force use the coefficient.",
		"checks":   "Online-monitoring rule checks", "check": "Check", "result": "Result", "check_pass": "pass", "check_fail": "fail", "check_na": "cannot be checked",
		"chk_sum": "Sum of daily values equals the monthly value (ours must be exact; the rule allows 5 %)", "subject": "Subject", "quantity": "Quantity", "day_sum": "Σ days", "month_value": "Month", "diff": "Difference", "diff_pct": "Difference (%)", "rule_5": "Rule 5 %",
		"q_native": "amount", "q_kgce": "kgce", "q_steam_t": "steam (t)", "q_coal_t": "coal (t)", "no_month": "no monthly value yet (month not over)",
		"chk_days": "Completeness of each day ≥ 90 %", "days_checked": "Closed days", "days_below_90": "Days below 90 %", "days_no_record": "Days without a record", "boiler_cov": "(boiler: minutes with a value)",
		"chk_align": "Days start at local 00:00, months on the 1st at 00:00", "align_ok": "Time zone %s: all %d daily and %d monthly timestamps aligned.", "align_bad": "Time zone %s: these timestamps are not aligned: %s", "align_none": "Time zone %s: no daily or monthly values to check in this period.",
		"subs": "Inputs replaced by configured constants", "sub_feedwater": "%s: feedwater temperature the configured %g °C", "sub_cold_air": "%s: cold-air temperature the configured %g °C",
		"sub_co": "%s: CO not metered, q3 computed with CO = 0", "sub_q5": "%s: q5 from the refdata table (not the boiler's test report)",
		"sub_steam_coef": "%s: no pressure configured, all steam by the coefficient 0.1286 kgce/kg", "sub_lhv_coef": "%s: no LHV configured, by the GB/T 2589 coefficient",
		"rated_pct": "Rated-load efficiency (%)", "rated_hours": "Rated-load hours", "verdict_ind": "Verdict (operating indication)",
		"rated_note":  "GB 24500 limits are met in rated-load tests: the efficiency over all hours (and each hour's or day's) against the limit is an operating indication. The rated-load efficiency is the boiler's method over the hours whose mean load is at least a share of rated output (rated_load_share, default 70 %): Σ output / Σ input heat, the closer comparison.",
		"rated_share": "%s: rated-load hours are hours at ≥ %.0f %% load",
		"episodes":    "Below-limit episodes (alert efficiency_below_limit)", "ep_hours": "Hours", "ep_len": "h", "ep_open": "no end recorded",
		"ep_none": "No below-limit alert in this period.",
		"ep_note": "A day's efficiency is over all its hours, so an upset of a few hours seldom brings a day below the limit. This table lists the episodes in which the hourly efficiency stayed below the limit for the alert's duration (below_limit_for; by default rated-load hours only), split by day, as the alerts: an operating indication. An episode with no end recorded is counted until the last whole hour before the report, the boiler's next alert or the month's end: its hours are a lower bound.",
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
	"deref": func(p *float64) float64 {
		if p == nil {
			return 0
		}
		return *p
	},
}

type reportBoiler struct {
	Name, Method           string
	Rated                  float64
	Direct, Indirect, Lim  *float64
	Q                      [5]*float64
	Grade                  string
	Verdict                string
	DaysBelow, DaysWithVal int
	// RatedPct is the boiler's method over the month's rated-load hours
	// (nil: none), RatedHours how many there were.
	RatedPct   *float64
	RatedHours float64
	// EpisodeDays: days with part of an alerted below-limit episode.
	EpisodeDays int
}

type reportMeter struct {
	Meter, Type, Unit string
	Native, Kgce      float64
	Has               bool
	// Estimated is the share of the period's minutes whose kgce is an
	// estimate (nil: not told); LastKnown and Coef its minutes by kind.
	Estimated       *float64
	LastKnown, Coef float64
	estMin          float64
	hasEst          bool
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

// reportUnitCons is a unit consumption: kgce per tonne of steam.
type reportUnitCons struct {
	Name  string
	Value *float64
}

type reportData struct {
	Lang, Month, User, Generated string
	Site                         siteInfo
	T                            map[string]string
	Boilers                      []reportBoiler
	Meters                       []reportMeter
	TypeTotals                   []reportMeter
	TotalKgce                    float64
	UnitCons                     []reportUnitCons
	Quality                      []reportQuality
	Statement                    string
	// Partial says the boiler figures sum up the month's days so far.
	Partial string
	Events  []event
	// Episodes: the below-limit episodes by boiler and day.
	Episodes []episodeDay
	Loc      *time.Location
	// The online-monitoring checks.
	SumChecks          []sumCheck
	SumPass, SumTold   bool
	DayChecks          []dayCheck
	DaysPass, DaysTold bool
	Align              alignCheck
	AlignText          string
	Substitutions      []string
	// RatedShares say, per boiler, which hours are rated-load hours.
	RatedShares []string
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

// reportData makes the report of a site's month: its rows, then each
// table, then the online-monitoring checks.
func (c *Console) reportData(ctx context.Context, site siteInfo, rng timeRange, lang string) (*reportData, error) {
	t := dict(lang)
	d := &reportData{Lang: lang, T: t, Site: site, Loc: site.loc, Month: rng.Start.Format("2006-01"),
		Generated: c.now().In(site.loc).Format("2006-01-02 15:04 MST")}
	in, err := c.reportRows(ctx, site, rng)
	if err != nil {
		return nil, err
	}
	c.reportBoilers(d, site, rng, in.boilers, in.eff)
	c.reportEnergy(d, site, rng, in.monthly, in.daily)
	reportQualities(d, in.dq, in.daily)
	d.Events = collectEvents(in.evt)
	reportEpisodes(d, in.evt, rng.Stop, c.now())
	c.monitoringChecks(d, site, rng, in.eff, in.daily, in.monthly, in.dq)
	return d, nil
}

// reportInputs are what a report is made of, each of the month only.
type reportInputs struct {
	boilers        []boilerInfo
	eff, dq, evt   []row
	monthly, daily []meterRow
}

// reportRows queries the month's boilers, efficiency (daily and monthly),
// energy (daily and monthly), daily completeness and events at once.
func (c *Console) reportRows(ctx context.Context, site siteInfo, rng timeRange) (reportInputs, error) {
	var in reportInputs
	bucket := store.FluxString(c.opts.Store.Bucket())
	err := parallel(
		func() (err error) { in.boilers, err = c.boilers(ctx, site.ID); return err },
		func() (err error) {
			in.eff, err = queryRows(ctx, c.opts.Store, fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "boiler_efficiency" and r.site == %s and (r.period == "1mo" or r.period == "1d"))
  |> filter(fn: (r) => %s)`, bucket, store.FluxTime(rng.Start), store.FluxTime(rng.Stop), store.FluxString(site.ID),
				store.OneOf("_field", "direct", "indirect", "limit", "grade", "q2", "q3", "q4", "q5", "q6", "heat_out_gj", "heat_in_gj", "minutes", "steam_t", "coal_t", "coverage",
					"rated_pct", "rated_hours", "rated_out_gj", "rated_in_gj")))
			return err
		},
		func() (err error) { in.monthly, err = c.energyRows(ctx, site.ID, "1mo", rng); return err },
		func() (err error) { in.daily, err = c.energyRows(ctx, site.ID, "1d", rng); return err },
		func() (err error) {
			in.dq, err = queryRows(ctx, c.opts.Store, fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "data_quality" and r.site == %s and r.period == "1d" and r.kind == "completeness")`, bucket, store.FluxTime(rng.Start), store.FluxTime(rng.Stop), store.FluxString(site.ID)))
			return err
		},
		func() (err error) { in.evt, err = c.events(ctx, site.ID, rng); return err },
	)
	if err != nil {
		return reportInputs{}, err
	}
	// InfluxDB 1.8 returns the points at a range's stop too
	// (influxdata/influxdb#19966): the next month's first day and, once it
	// closed, the next month itself are not this month's.
	in.eff, in.dq, in.evt = rowsBefore(in.eff, rng.Stop), rowsBefore(in.dq, rng.Stop), rowsBefore(in.evt, rng.Stop)
	in.monthly, in.daily = meterRowsBefore(in.monthly, rng.Stop), meterRowsBefore(in.daily, rng.Stop)
	return in, nil
}

// reportBoilers fills the boiler table: each boiler's monthly values (while
// the month is open, summed from its days), how many days fell below the
// limit, and the verdict.
func (c *Console) reportBoilers(d *reportData, site siteInfo, rng timeRange, boilers []boilerInfo, eff []row) {
	t := d.T
	for _, b := range boilers {
		rb, days := boilerMonth(b, eff, t)
		if rb.Direct == nil && rb.Indirect == nil && len(days) > 0 {
			d.Partial = fmt.Sprintf(t["partial"], len(days))
			monthFromDays(&rb, days)
			mr := monthRated(rng.Start, days, rb.Method)
			rb.RatedPct, rb.RatedHours = mr.Pct, mr.Hours
		}
		if share := c.ratedShare(site.ID, b.Name); share != nil {
			d.RatedShares = append(d.RatedShares, fmt.Sprintf(t["rated_share"], b.Name, 100**share))
		}
		rb.countDays(days)
		rb.Verdict = rb.verdict(t)
		d.Boilers = append(d.Boilers, rb)
	}
}

// boilerMonth is a boiler's row from its monthly values, and its daily
// values by day.
func boilerMonth(b boilerInfo, eff []row, t map[string]string) (reportBoiler, map[int64]map[string]float64) {
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
		case "rated_pct":
			rb.RatedPct = &f
		case "rated_hours":
			rb.RatedHours = f
		default:
			if i := int(r.Field[1] - '2'); len(r.Field) == 2 && i >= 0 && i < 5 {
				rb.Q[i] = &f
			}
		}
	}
	return rb, days
}

// countDays counts the days with a value by the boiler's method and those
// below the day's limit (else the month's).
func (rb *reportBoiler) countDays(days map[int64]map[string]float64) {
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
}

// verdict compares the month's efficiency by the boiler's method with the
// limit.
func (rb *reportBoiler) verdict(t map[string]string) string {
	val := rb.Direct
	if rb.Method == "indirect" {
		val = rb.Indirect
	}
	switch {
	case val == nil || rb.Lim == nil:
		return t["unknown"]
	case *val >= *rb.Lim:
		return t["pass"]
	default:
		return t["fail"]
	}
}

// reportEnergy fills the energy tables from the monthly values, or while
// the month is open from the sum of its days: each meter, each energy
// type, the total and the unit consumptions.
func (c *Console) reportEnergy(d *reportData, site siteInfo, rng timeRange, monthly, daily []meterRow) {
	src := monthly
	if len(src) == 0 {
		src = daily
	}
	// The share of the minutes the values cover: the month's, or while it
	// is open those of its days so far.
	monthMinutes := rng.Stop.Sub(rng.Start).Minutes()
	if len(monthly) == 0 {
		monthMinutes = 24 * 60 * float64(len(rowTimes(nil, daily, "1d")))
	}
	byMeter := meterTotals(src, monthMinutes)
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
	d.UnitCons = c.reportUnitConsumption(site, src)
}

// meterTotals sums each meter's rows, and states the share of
// monthMinutes its kgce was estimated.
func meterTotals(src []meterRow, monthMinutes float64) map[string]*reportMeter {
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
		if m.estMin != nil {
			x.hasEst = true
			x.estMin += *m.estMin
			if m.lastKnownMin != nil {
				x.LastKnown += *m.lastKnownMin
			}
			if m.coefMin != nil {
				x.Coef += *m.coefMin
			}
		}
	}
	for _, x := range byMeter {
		if x.hasEst && monthMinutes > 0 {
			v := 100 * x.estMin / monthMinutes
			x.Estimated = &v
		}
	}
	return byMeter
}

// reportUnitConsumption is each configured unit consumption: the kgce of
// its energy meters per tonne of its product meters' steam.
func (c *Console) reportUnitConsumption(site siteInfo, src []meterRow) []reportUnitCons {
	var out []reportUnitCons
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
		out = append(out, reportUnitCons{s.Name, v})
	}
	return out
}

// reportQualities fills the data-quality table, each meter over the
// month's days, and the statement that sums it up.
func reportQualities(d *reportData, dq []row, daily []meterRow) {
	t := d.T
	qs := qualityByMeter(dq, daily)
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
}

// qualityByMeter sums each meter's daily completeness records, with the
// gaps and resets the engine counts per meter and day in energy.
func qualityByMeter(dq []row, daily []meterRow) map[string]*reportQuality {
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
	return qs
}

// rowsBefore are the rows before stop.
func rowsBefore(rows []row, stop time.Time) []row {
	return slices.DeleteFunc(rows, func(r row) bool { return !r.Time.Before(stop) })
}

// meterRowsBefore are the meter rows before stop.
func meterRowsBefore(rows []meterRow, stop time.Time) []meterRow {
	return slices.DeleteFunc(rows, func(m meterRow) bool { return !m.time.Before(stop) })
}

// monitoringChecks states the online-monitoring rules' checks and their
// results.
func (c *Console) monitoringChecks(d *reportData, site siteInfo, rng timeRange, eff []row, daily, monthly []meterRow, dq []row) {
	t := d.T
	d.SumChecks = append(boilerSumChecks(eff), meterSumChecks(daily, monthly)...)
	d.SumPass = true
	for _, s := range d.SumChecks {
		if s.HasMonth {
			d.SumTold = true
			d.SumPass = d.SumPass && s.Exact
		}
	}
	// Boilers: the share of each day's minutes with a value (or standby),
	// against the same 90 %.
	days := slices.Clone(dq)
	for _, r := range eff {
		if r.Tags["period"] == "1d" && r.Field == "coverage" {
			days = append(days, row{Time: r.Time, Field: "completeness", Value: r.Value, Tags: map[string]string{"meter": r.Tags["boiler"] + " " + t["boiler_cov"]}})
		}
	}
	d.DayChecks = completenessChecks(days, rng, site.loc, c.now())
	d.DaysPass = true
	for _, x := range d.DayChecks {
		d.DaysTold = d.DaysTold || x.Days > 0
		d.DaysPass = d.DaysPass && x.Pass
	}
	d.Align = checkAlignment(site.loc, site.TZ, rowTimes(eff, daily, "1d"), rowTimes(eff, monthly, "1mo"))
	switch {
	case d.Align.DayPoints+d.Align.Months == 0:
		d.AlignText = fmt.Sprintf(t["align_none"], site.TZ)
	case d.Align.Pass:
		d.AlignText = fmt.Sprintf(t["align_ok"], site.TZ, d.Align.DayPoints, d.Align.Months)
	default:
		d.AlignText = fmt.Sprintf(t["align_bad"], site.TZ, strings.Join(d.Align.Bad, ", "))
	}
	d.Substitutions = c.substitutions(site.ID, t)
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

// The national key-energy-user online-monitoring rules, as the report
// checks them: daily statistics start at local 00:00 and months on the
// 1st; daily and monthly figures agree (the rule allows 5 %, ours must be
// exact: the engine builds the month from its days); each day's data is
// at least 90 % complete.
const (
	ruleSumTolerance = 0.05 // the rule's allowed difference between Σ days and the month
	exactTolerance   = 1e-9 // relative: float rounding only
	completenessRule = 90.0 // %
)

// sumCheck compares one subject's sum of daily values with its monthly
// value.
type sumCheck struct {
	Subject, Quantity, Unit string
	Days                    int
	DaySum, Month           float64
	HasMonth                bool
	Diff, DiffPct           float64
	Exact, WithinRule       bool
}

// dayCheck is one subject's per-day completeness over the month's closed
// days: the days below 90 % and those without a record, named.
type dayCheck struct {
	Subject      string
	Days, OK     int
	Below, NoRec []string
	Pass         bool
}

// alignCheck says whether every stored daily value starts at local 00:00
// and every monthly one at 00:00 on the 1st, in the site's zone.
type alignCheck struct {
	TZ                string
	DayPoints, Months int
	Bad               []string
	Pass              bool
}

// checkSum compares Σ days (in time order, as the engine adds them) with
// the month.
func checkSum(subject, quantity, unit string, days []float64, month *float64) sumCheck {
	c := sumCheck{Subject: subject, Quantity: quantity, Unit: unit, Days: len(days)}
	for _, d := range days {
		c.DaySum += d
	}
	if month == nil {
		return c
	}
	c.HasMonth, c.Month = true, *month
	c.Diff = c.DaySum - c.Month
	scale := math.Max(math.Abs(c.Month), math.Abs(c.DaySum))
	if scale > 0 {
		c.DiffPct = 100 * c.Diff / scale
	}
	c.Exact = math.Abs(c.Diff) <= exactTolerance*scale
	c.WithinRule = math.Abs(c.Diff) <= ruleSumTolerance*scale
	return c
}

// meterSumChecks: each meter's native amount and kgce, Σ daily vs monthly.
func meterSumChecks(daily, monthly []meterRow) []sumCheck {
	type acc struct {
		unit                   string
		native, kgce           []float64
		monthNative, monthKgce *float64
	}
	by := map[string]*acc{}
	get := func(m meterRow) *acc {
		a := by[m.meter]
		if a == nil {
			a = &acc{unit: m.unit}
			by[m.meter] = a
		}
		return a
	}
	days := slices.Clone(daily)
	slices.SortStableFunc(days, func(a, b meterRow) int { return a.time.Compare(b.time) })
	for _, m := range days {
		a := get(m)
		if m.native != nil {
			a.native = append(a.native, *m.native)
		}
		if m.kgce != nil {
			a.kgce = append(a.kgce, *m.kgce)
		}
	}
	for _, m := range monthly {
		a := get(m)
		a.monthNative, a.monthKgce = m.native, m.kgce
	}
	var out []sumCheck
	for _, k := range sortedKeys(by) {
		a := by[k]
		out = append(out, checkSum(k, "native", a.unit, a.native, a.monthNative), checkSum(k, "kgce", "kgce", a.kgce, a.monthKgce))
	}
	return out
}

// boilerSumChecks: each boiler's steam and coal (t), Σ daily vs monthly.
func boilerSumChecks(eff []row) []sumCheck {
	type key struct{ boiler, field string }
	days := map[key][]row{}
	month := map[key]*float64{}
	for _, r := range eff {
		if r.Field != "steam_t" && r.Field != "coal_t" {
			continue
		}
		f, ok := r.Float()
		if !ok {
			continue
		}
		k := key{r.Tags["boiler"], r.Field}
		switch r.Tags["period"] {
		case "1d":
			days[k] = append(days[k], r)
		case "1mo":
			month[k] = &f
		}
	}
	keys := map[string]bool{}
	for k := range days {
		keys[k.boiler] = true
	}
	for k := range month {
		keys[k.boiler] = true
	}
	var out []sumCheck
	for _, b := range sortedKeys(keys) {
		for _, fld := range []string{"steam_t", "coal_t"} {
			k := key{b, fld}
			if days[k] == nil && month[k] == nil {
				continue
			}
			rs := days[k]
			slices.SortStableFunc(rs, func(a, b row) int { return a.Time.Compare(b.Time) })
			vals := make([]float64, 0, len(rs))
			for _, r := range rs {
				f, _ := r.Float()
				vals = append(vals, f)
			}
			out = append(out, checkSum(b, fld, "t", vals, month[k]))
		}
	}
	return out
}

// closedDays are the local days of the month that have ended by now.
func closedDays(rng timeRange, loc *time.Location, now time.Time) []time.Time {
	var out []time.Time
	for d := rng.Start.In(loc); d.Before(rng.Stop); d = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc) {
		if end := time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc); end.After(now) {
			break
		}
		out = append(out, d)
	}
	return out
}

// completenessChecks: per meter, each closed day of the month against the
// 90 % rule; a day without a completeness record is named too (the
// engine writes one for every day it closed).
func completenessChecks(dq []row, rng timeRange, loc *time.Location, now time.Time) []dayCheck {
	vals := map[string]map[string]float64{} // meter → local date → completeness
	for _, r := range dq {
		if r.Field != "completeness" {
			continue
		}
		m := r.Tags["meter"]
		if m == "" {
			m = r.Tags["device"]
		}
		f, ok := r.Float()
		if !ok {
			continue
		}
		if vals[m] == nil {
			vals[m] = map[string]float64{}
		}
		vals[m][r.Time.In(loc).Format("2006-01-02")] = f
	}
	days := closedDays(rng, loc, now)
	var out []dayCheck
	for _, m := range sortedKeys(vals) {
		c := dayCheck{Subject: m, Days: len(days)}
		for _, d := range days {
			ds := d.Format("2006-01-02")
			v, ok := vals[m][ds]
			switch {
			case !ok:
				c.NoRec = append(c.NoRec, d.Format("01-02"))
			case v < completenessRule:
				c.Below = append(c.Below, fmt.Sprintf("%s (%.1f %%)", d.Format("01-02"), v))
			default:
				c.OK++
			}
		}
		c.Pass = len(c.Below) == 0 && len(c.NoRec) == 0
		out = append(out, c)
	}
	return out
}

// checkAlignment: every daily timestamp is 00:00 local and every monthly
// one 00:00 on the 1st.
func checkAlignment(loc *time.Location, tz string, days, months []time.Time) alignCheck {
	c := alignCheck{TZ: tz, DayPoints: len(days), Months: len(months)}
	for _, t := range days {
		if lt := t.In(loc); lt.Hour() != 0 || lt.Minute() != 0 || lt.Second() != 0 {
			c.Bad = append(c.Bad, lt.Format("2006-01-02 15:04 (1d)"))
		}
	}
	for _, t := range months {
		if lt := t.In(loc); lt.Day() != 1 || lt.Hour() != 0 || lt.Minute() != 0 || lt.Second() != 0 {
			c.Bad = append(c.Bad, lt.Format("2006-01-02 15:04 (1mo)"))
		}
	}
	c.Pass = len(c.Bad) == 0 && len(days)+len(months) > 0
	return c
}

// rowTimes are the distinct times of rows of a period.
func rowTimes(eff []row, meters []meterRow, period string) []time.Time {
	seen := map[int64]bool{}
	var out []time.Time
	add := func(t time.Time) {
		if !seen[t.UnixNano()] {
			seen[t.UnixNano()] = true
			out = append(out, t)
		}
	}
	for _, r := range eff {
		if r.Tags["period"] == period {
			add(r.Time)
		}
	}
	for _, m := range meters {
		add(m.time)
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// substitutions name the constants the engine puts in place of
// measurements, from the configuration: they are stated, not estimated
// per minute.
func (c *Console) substitutions(site string, t map[string]string) []string {
	e := c.opts.Energy
	if e == nil {
		return nil
	}
	var out []string
	for _, b := range e.Boilers {
		if b.Site != site {
			continue
		}
		p := b.Points
		if p.FeedwaterTemp == nil && b.FeedwaterC != nil {
			out = append(out, fmt.Sprintf(t["sub_feedwater"], b.Name, *b.FeedwaterC))
		}
		if p.ColdAirTemp == nil && b.ColdAirC != nil {
			out = append(out, fmt.Sprintf(t["sub_cold_air"], b.Name, *b.ColdAirC))
		}
		if p.CO == nil {
			out = append(out, fmt.Sprintf(t["sub_co"], b.Name))
		}
		if b.Losses.Q5Rated == 0 {
			out = append(out, fmt.Sprintf(t["sub_q5"], b.Name))
		}
	}
	for _, m := range e.Meters {
		if m.Site != site {
			continue
		}
		switch {
		case m.EnergyType == "steam" && m.Steam == nil:
			out = append(out, fmt.Sprintf(t["sub_steam_coef"], m.Name))
		case (m.EnergyType == "coal" || m.EnergyType == "natural_gas") && len(m.LHV) == 0 && m.LHVFrom == "":
			out = append(out, fmt.Sprintf(t["sub_lhv_coef"], m.Name))
		}
	}
	return out
}
