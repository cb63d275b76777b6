package energy

import (
	"fmt"
	"time"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Alert kinds, the `kind` tag of the events measurement and the kind of
// the alert published (the wire contract's).
const (
	KindBelowLimit    = telemetry.AlertBelowLimit
	KindExhaustHigh   = telemetry.AlertExhaustHigh
	KindExcessAirHigh = telemetry.AlertExcessAirHigh
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

// End says that an alerted episode is over: a window where its condition
// no longer held. The service records it with the episode's event, so that
// after a restart it knows whether the episode is still open.
type End struct {
	Site, Boiler, Kind string
	// Since is the episode's start (its event's time), At the start of
	// the window that ended it.
	Since, At time.Time
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
	since   time.Time // start of the current run
	alerted bool
	open    time.Time // with alerted: the start of the alerted episode
}

// observe feeds the window starting at start; alert is true when the alert
// is due, ended when an alerted episode is over.
func (e *episode) observe(start time.Time, has, cond bool) (alert, ended bool) {
	switch {
	case !has:
		e.run = 0
		return false, false
	case !cond:
		ended = e.alerted
		e.run, e.alerted = 0, false
		return false, ended
	}
	if e.run == 0 {
		e.since = start
	}
	e.run++
	if e.run >= e.need && !e.alerted {
		e.alerted, e.open = true, e.since
		return true, false
	}
	return false, false
}

// EpisodeSpec is what an alert episode watches, for restoring it after a
// restart.
type EpisodeSpec struct {
	Kind string
	Step time.Duration // window length: an hour or a minute
	Need int           // windows in a row that raise the alert
}

// Episodes are the boiler's alert episodes.
func (b *Boiler) Episodes() []EpisodeSpec {
	var out []EpisodeSpec
	for _, e := range []*episode{b.below, b.exhaust, b.alpha} {
		if e != nil {
			out = append(out, EpisodeSpec{Kind: e.kind, Step: e.step, Need: e.need})
		}
	}
	return out
}

// Window is a stored window's value of what an episode watches: the
// hourly efficiency of the boiler's method, the minute's exhaust
// temperature or excess-air ratio. Load is an hour's mean load (share of
// rated output; 0 if not stored), which decides under the rated_load
// basis whether the hour counts, as it did when it was computed.
type Window struct {
	Start time.Time
	Has   bool
	Value float64
	Load  float64
}

// Resume restores an episode when the boiler starts again part-way
// (after a restart, computing resumes at local midnight): prior are the
// windows just before the start, oldest first, which rebuild a run not
// yet alerted; open, if not zero, is the start of an alerted episode that
// had not ended, so that it is not alerted a second time.
func (b *Boiler) Resume(kind string, open time.Time, prior []Window) {
	var e *episode
	var cond func(float64) bool
	switch kind {
	case KindBelowLimit:
		e, cond = b.below, func(v float64) bool { return v < b.Limit.Grade3() }
	case KindExhaustHigh:
		e, cond = b.exhaust, func(v float64) bool { return v > b.exhMax }
	case KindExcessAirHigh:
		e, cond = b.alpha, func(v float64) bool { return v > b.alphaMax }
	}
	if e == nil {
		return
	}
	*e = episode{kind: e.kind, need: e.need, step: e.step}
	for _, w := range prior {
		has := w.Has
		if kind == KindBelowLimit && b.ratedBasis() && !b.ratedLoad(w.Load) {
			has = false // as hourAlerts: an hour below rated load breaks the run
		}
		// An alert due here was either stored (then open says so) or is
		// not this episode's to raise again: only open decides.
		e.observe(w.Start, has, has && cond(w.Value))
	}
	if !open.IsZero() {
		e.alerted, e.open = true, open
	}
}

// ended records that e's alerted episode (e.open, which observe keeps) is
// over at the window starting at at.
func (b *Boiler) ended(e *episode, at time.Time, out *Output) {
	out.Ends = append(out.Ends, End{Site: b.Cfg.Site, Boiler: b.Cfg.Name, Kind: e.kind, Since: e.open, At: at})
}

func (b *Boiler) hourAlerts(r *Result, out *Output) {
	v, has := r.Value(b.Cfg.Method)
	// By default only rated-load hours are evidence (the GB 24500 limits
	// are for rated-load tests): an hour at lower load breaks the run like
	// an hour without a value, and does not end an alerted episode.
	rated := b.ratedBasis()
	if rated && !b.ratedHour(r) {
		has = false
	}
	alert, ended := b.below.observe(r.Start, has, v < r.Limit)
	if ended {
		b.ended(b.below, r.Start, out)
	}
	if alert {
		basis := "every hour"
		if rated {
			basis = fmt.Sprintf("hours at ≥ %.0f %% load", 100*b.Cfg.RatedLoadShare)
		}
		load := 100 * r.Load / float64(max(r.LoadN, 1))
		out.Events = append(out.Events, Event{
			Site: r.Site, Boiler: r.Boiler, Kind: KindBelowLimit, Since: b.below.since, At: Next(r.Start, Hour),
			Value: v, Limit: r.Limit,
			Message: fmt.Sprintf("%s: hourly %s-method efficiency %.1f %% at %.0f %% load has been below the GB 24500-2020 grade-3 limit %.0f %% for %d h (%s) since %s; an operating indication: the limit is for rated-load tests",
				r.Boiler, b.Cfg.Method, v, load, r.Limit, b.below.run, basis, b.below.since.In(b.loc).Format("2006-01-02 15:04 MST")),
		})
	}
}

// ratedBasis says whether below-limit alerts count rated-load hours only.
func (b *Boiler) ratedBasis() bool { return b.alertBasis != "all_hours" }

func (b *Boiler) minuteAlerts(r *Result, out *Output) {
	check := func(e *episode, has bool, v, limit float64, what, unit string) {
		if e == nil {
			return
		}
		alert, ended := e.observe(r.Start, has, v > limit)
		if ended {
			b.ended(e, r.Start, out)
		}
		if alert {
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
