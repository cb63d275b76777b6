package energy

import (
	"fmt"
	"time"
)

// Alert kinds, the `kind` tag of the events measurement.
const (
	KindBelowLimit    = "efficiency_below_limit"
	KindExhaustHigh   = "exhaust_high"
	KindExcessAirHigh = "excess_air_high"
)

// Event is an alert: raised once per episode, when its condition has held
// for the configured duration.
type Event struct {
	Site, Boiler, Kind string
	// Since is the start of the first window of the episode, At the end of
	// the window that completed the duration.
	Since, At    time.Time
	Value, Limit float64
	Message      string
}

// episode tracks one alert condition over consecutive windows of length
// step. need windows in a row raise the alert; one window where the
// condition is false ends the episode. A window without a value breaks the
// run (it is not evidence either way) but does not end an episode that was
// already alerted, so a data gap cannot cause a second alert.
type episode struct {
	kind    string
	need    int
	step    time.Duration
	run     int
	since   time.Time
	alerted bool
}

// observe feeds the window starting at start; it returns true when the
// alert is due.
func (e *episode) observe(start time.Time, has, cond bool) bool {
	switch {
	case !has:
		e.run = 0
		return false
	case !cond:
		e.run, e.alerted = 0, false
		return false
	}
	if e.run == 0 {
		e.since = start
	}
	e.run++
	if e.run >= e.need && !e.alerted {
		e.alerted = true
		return true
	}
	return false
}

func (b *Boiler) hourAlerts(r *Result, out *Output) {
	v, has := r.Value(b.Cfg.Method)
	if b.below.observe(r.Start, has, v < r.Limit) {
		out.Events = append(out.Events, Event{
			Site: r.Site, Boiler: r.Boiler, Kind: KindBelowLimit, Since: b.below.since, At: Next(r.Start, Hour),
			Value: v, Limit: r.Limit,
			Message: fmt.Sprintf("%s: hourly %s-method efficiency %.1f %% has been below the GB 24500-2020 grade-3 limit %.0f %% for %d h since %s",
				r.Boiler, b.Cfg.Method, v, r.Limit, b.below.run, b.below.since.In(b.loc).Format("2006-01-02 15:04 MST")),
		})
	}
}

func (b *Boiler) minuteAlerts(r *Result, out *Output) {
	check := func(e *episode, has bool, v, limit float64, what, unit string) {
		if e == nil {
			return
		}
		if e.observe(r.Start, has, v > limit) {
			out.Events = append(out.Events, Event{
				Site: r.Site, Boiler: r.Boiler, Kind: e.kind, Since: e.since, At: r.Start.Add(time.Minute),
				Value: v, Limit: limit,
				Message: fmt.Sprintf("%s: %s %.2f%s has been above the bound %.2f%s for %d min since %s",
					r.Boiler, what, v, unit, limit, unit, e.run, e.since.In(b.loc).Format("2006-01-02 15:04 MST")),
			})
		}
	}
	check(b.exhaust, r.ExhN > 0, r.Exh, b.exhMax, "exhaust temperature", " °C")
	check(b.alpha, r.AlphaN > 0, r.Alpha, b.alphaMax, "excess-air ratio α", "")
}
