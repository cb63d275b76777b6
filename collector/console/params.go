package console

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/energy"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// badRequest is an error the client caused; the API answers 400 with its
// message.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badf(format string, a ...any) error { return &badRequest{fmt.Sprintf(format, a...)} }

func isBadRequest(err error) bool {
	var b *badRequest
	return errors.As(err, &b)
}

// notFound is something the user may not see; the API answers 404.
type notFound struct{ msg string }

func (e *notFound) Error() string { return e.msg }

// outOfScope is the answer for a site outside the user's scope: the same
// whether the site exists or not, so that it tells nothing about others.
func outOfScope(site string) error {
	return &notFound{fmt.Sprintf("site %q not found", site)}
}

func isNotFound(err error) bool {
	var n *notFound
	return errors.As(err, &n)
}

// Limits of a query's time range: a range is at most maxSpan long (a year
// of daily values, with room for a leap year and a partial month on
// either side), and within the years the wire format accepts.
const maxSpan = 400 * 24 * time.Hour

var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// timeRange is a resolved [Start, Stop) in a site's time zone.
type timeRange struct {
	Start, Stop time.Time
	Loc         *time.Location
	Preset      string
}

func (r timeRange) Span() time.Duration { return r.Stop.Sub(r.Start) }

// presets are the ranges the time picker offers.
var presets = []string{"1h", "24h", "today", "yesterday", "7d", "30d", "month", "lastmonth"}

// parseRange reads range=PRESET or start=&stop= (RFC 3339, or local
// "2006-01-02T15:04" / "2006-01-02" in the site's zone). def is the preset
// used when neither is given.
func parseRange(q url.Values, loc *time.Location, now time.Time, def string) (timeRange, error) {
	preset, start, stop := q.Get("range"), q.Get("start"), q.Get("stop")
	if preset != "" && (start != "" || stop != "") {
		return timeRange{}, badf("give either range or start and stop, not both")
	}
	if start == "" && stop == "" {
		if preset == "" {
			preset = def
		}
		return presetRange(preset, loc, now)
	}
	if start == "" || stop == "" {
		return timeRange{}, badf("start and stop go together; got only one")
	}
	s, err := parseTime(start, loc)
	if err != nil {
		return timeRange{}, badf("start: %v", err)
	}
	e, err := parseTime(stop, loc)
	if err != nil {
		return timeRange{}, badf("stop: %v", err)
	}
	r := timeRange{Start: s, Stop: e, Loc: loc, Preset: "custom"}
	return r, r.check()
}

func (r timeRange) check() error {
	switch {
	case !r.Stop.After(r.Start):
		return badf("the range is empty or reversed: start %s is not before stop %s", r.Start.Format(time.RFC3339), r.Stop.Format(time.RFC3339))
	case r.Start.Before(minTime) || r.Stop.After(maxTime):
		return badf("the range must lie within 2000-01-01 and 2100-01-01")
	case r.Span() > maxSpan:
		return badf("the range is %.0f days long; at most %.0f days can be shown at once", r.Span().Hours()/24, maxSpan.Hours()/24)
	}
	return nil
}

func parseTime(s string, loc *time.Location) (time.Time, error) {
	if len(s) > 40 {
		return time.Time{}, errors.New("too long for a time")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: write 2026-01-15, 2026-01-15T08:00 (site time) or RFC 3339", s)
}

func presetRange(p string, loc *time.Location, now time.Time) (timeRange, error) {
	midnight, month := energy.Floor(now, energy.Day, loc), energy.Floor(now, energy.Month, loc)
	r := timeRange{Stop: now, Loc: loc, Preset: p}
	switch p {
	case "1h":
		r.Start = now.Add(-time.Hour)
	case "24h":
		r.Start = now.Add(-24 * time.Hour)
	case "today":
		r.Start, r.Stop = midnight, midnight.AddDate(0, 0, 1)
	case "yesterday":
		r.Start, r.Stop = midnight.AddDate(0, 0, -1), midnight
	case "7d":
		r.Start = now.Add(-7 * 24 * time.Hour)
	case "30d":
		r.Start = now.Add(-30 * 24 * time.Hour)
	case "month":
		r.Start, r.Stop = month, month.AddDate(0, 1, 0)
	case "lastmonth":
		r.Start, r.Stop = month.AddDate(0, -1, 0), month
	default:
		return timeRange{}, badf("range %q: want one of %s, or start and stop", truncate(p, 40), strings.Join(presets, ", "))
	}
	return r, nil
}

// parseMonth reads month=2026-01 (default: the current month).
func parseMonth(s string, loc *time.Location, now time.Time) (timeRange, error) {
	if s == "" {
		lt := now.In(loc)
		s = fmt.Sprintf("%04d-%02d", lt.Year(), lt.Month())
	}
	t, err := time.ParseInLocation("2006-01", s, loc)
	if err != nil {
		return timeRange{}, badf("month %q: write it as 2026-01", truncate(s, 40))
	}
	r := timeRange{Start: t, Stop: t.AddDate(0, 1, 0), Loc: loc, Preset: "month"}
	return r, r.check()
}

// name validates a name parameter (site, boiler, meter) that will reach a
// Flux query.
func name(q url.Values, key string, required bool) (string, error) {
	v := q.Get(key)
	if v == "" {
		if required {
			return "", badf("%s is missing", key)
		}
		return "", nil
	}
	if !telemetry.ValidName(v) {
		return "", badf("%s %q is not a valid name: 1 to 64 of A-Z a-z 0-9 _ - . (not starting with _)", key, truncate(v, 64))
	}
	return v, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// windowLadder are the aggregation windows, each a round step on a time
// axis.
var windowLadder = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// maxPoints bounds a series sent to the browser.
const maxPoints = 1000

// pickWindow is the smallest ladder window giving at most maxPoints over
// span.
func pickWindow(span time.Duration) time.Duration {
	for _, w := range windowLadder {
		if span/w <= maxPoints {
			return w
		}
	}
	return windowLadder[len(windowLadder)-1]
}

// Periods the engine writes derived values for (tag period), finest first.
var periods = []struct {
	Tag string
	Dur time.Duration
}{
	{"1m", time.Minute}, {"15m", 15 * time.Minute}, {"1h", time.Hour}, {"1d", 24 * time.Hour}, {"1mo", 31 * 24 * time.Hour},
}

// pickPeriod is the finest derived period giving at most maxPoints over
// span.
func pickPeriod(span time.Duration) string {
	for _, p := range periods {
		if span/p.Dur <= maxPoints {
			return p.Tag
		}
	}
	return "1mo"
}
