package console

import (
	"slices"
	"strings"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/energy"
)

// episodeDay is the part of one local day that an alerted below-limit
// episode (an efficiency_below_limit event, from its start to its
// ended_at) covers. A day's efficiency is over all its hours, so an upset
// of a few hours rarely makes a day below the limit; the report lists
// these days separately, with their hours.
type episodeDay struct {
	Boiler   string
	Date     string // local, 2006-01-02
	From, To string // local 15:04; To is 24:00 when the episode goes on past midnight
	Hours    float64
	// Open: no end is recorded (the boiler was still below the limit
	// when the report was made, or the end's write was lost). The
	// episode is then counted until the last whole hour before the
	// report, the boiler's next episode or the month's end, whichever
	// comes first: at least Hours.
	Open bool
}

// reportEpisodes fills the report's below-limit episodes by day and each
// boiler's number of days with one, from the month's events.
func reportEpisodes(d *reportData, evt []row, stop, now time.Time) {
	d.Episodes = episodeDays(evt, d.Loc, stop, now)
	for i := range d.Boilers {
		days := map[string]bool{}
		for _, e := range d.Episodes {
			if e.Boiler == d.Boilers[i].Name {
				days[e.Date] = true
			}
		}
		d.Boilers[i].EpisodeDays = len(days)
	}
}

// episodeDays splits each below-limit episode among the events (stored at
// the episode's start, tagged boiler and kind, with the field ended_at
// once it is over) into its local days before stop, by boiler and time.
func episodeDays(evt []row, loc *time.Location, stop, now time.Time) []episodeDay {
	type episode struct {
		boiler     string
		since, end time.Time
		ended      bool
	}
	byKey := map[string]*episode{}
	var eps []*episode
	for _, r := range evt {
		if r.Tags["kind"] != energy.KindBelowLimit {
			continue
		}
		k := r.Tags["boiler"] + "|" + r.Time.String()
		e := byKey[k]
		if e == nil {
			e = &episode{boiler: r.Tags["boiler"], since: r.Time}
			byKey[k] = e
			eps = append(eps, e)
		}
		if s, ok := r.Value.(string); ok && r.Field == "ended_at" {
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				e.end, e.ended = t, true
			}
		}
	}
	slices.SortFunc(eps, func(a, b *episode) int {
		if a.boiler != b.boiler {
			return strings.Compare(a.boiler, b.boiler)
		}
		return a.since.Compare(b.since)
	})
	var out []episodeDay
	for i, e := range eps {
		end := e.end
		if !e.ended {
			// The engine keeps one episode open per boiler: the next one's
			// start bounds an open one whose end went unrecorded.
			end = energy.Floor(now, energy.Hour, loc)
			if i+1 < len(eps) && eps[i+1].boiler == e.boiler && eps[i+1].since.Before(end) {
				end = eps[i+1].since
			}
		}
		if stop.Before(end) {
			end = stop
		}
		if end.Before(e.since) {
			end = e.since
		}
		for day := energy.Floor(e.since, energy.Day, loc); ; day = energy.Next(day, energy.Day) {
			next := energy.Next(day, energy.Day)
			from, to := e.since, next
			if day.After(from) {
				from = day
			}
			if end.Before(to) {
				to = end
			}
			to24 := to.In(loc).Format("15:04")
			if to.Equal(next) {
				to24 = "24:00"
			}
			out = append(out, episodeDay{Boiler: e.boiler, Date: day.Format("2006-01-02"), From: from.In(loc).Format("15:04"),
				To: to24, Hours: to.Sub(from).Hours(), Open: !e.ended && !next.Before(end)})
			if !next.Before(end) {
				break
			}
		}
	}
	return out
}
