package derived

import (
	"context"
	"fmt"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/boilerwatch/boilerwatch/collector/energy"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// Episodes is the record of alert episodes in the events measurement, so
// that an alert is raised once per episode across restarts: an alert is an
// event point at its episode's start (tags site, the subject's tag and
// kind; fields message, value, limit, confirmed_at), and the episode's end
// adds ended_at to that point. An event without ended_at is an episode
// still open. The engine records its boiler alerts with it (subject tag
// boiler), the console its fleet alerts (subject tag gateway).
type Episodes struct {
	Store Store
	// Tag names the subject's tag (boiler, gateway).
	Tag string
	// Kinds are the alert kinds this record holds: other events of the
	// measurement (sequence gaps, the other subject's alerts) are not
	// episodes of it.
	Kinds []string
}

// boilerEpisodes is the engine's record.
func boilerEpisodes(st Store) Episodes {
	return Episodes{Store: st, Tag: "boiler", Kinds: []string{energy.KindBelowLimit, energy.KindExhaustHigh, energy.KindExcessAirHigh}}
}

// EpisodeKey names an episode's subject and kind at a site.
type EpisodeKey struct{ Site, Subject, Kind string }

// Episode is an event as stored: its episode's start and, once it is over,
// the start of the window that ended it (zero while open).
type Episode struct{ Since, Ended time.Time }

// StartPoint is an alert's event: its time is the episode's start, so the
// same episode seen again (a restart) writes the same point.
func (e Episodes) StartPoint(site, subject, kind string, since, confirmed time.Time, message string, value, limit float64) *write.Point {
	return write.NewPointWithMeasurement(MeasEvents).AddTag("site", site).AddTag(e.Tag, subject).
		AddTag("kind", kind).SetTime(since).
		AddField("message", message).AddField("value", value).AddField("limit", limit).
		AddField("confirmed_at", confirmed.Format(time.RFC3339))
}

// EndPoint adds to an episode's event (same series and time) when the
// episode ended.
func (e Episodes) EndPoint(site, subject, kind string, since, at time.Time) *write.Point {
	return write.NewPointWithMeasurement(MeasEvents).AddTag("site", site).AddTag(e.Tag, subject).
		AddTag("kind", kind).SetTime(since).AddField("ended_at", at.Format(time.RFC3339))
}

// Last reads the last event before stop of each subject and kind (site,
// subject, kind: "" for all).
func (e Episodes) Last(ctx context.Context, site, subject, kind string, stop time.Time) (map[EpisodeKey]Episode, error) {
	siteCond, subjectCond, kindCond := "", "", store.OneOf("kind", e.Kinds...)
	if site != "" {
		siteCond = store.Eq("site", site)
	}
	if subject != "" {
		subjectCond = store.Eq(e.Tag, subject)
	}
	if kind != "" {
		kindCond = store.Eq("kind", kind)
	}
	cond := store.And(store.Eq("_measurement", MeasEvents), siteCond, store.OneOf("_field", "message", "ended_at"),
		subjectCond, kindCond)
	// last() per field: the newest event's time, and the newest ended_at,
	// which is that event's only if it has the same time.
	flux := fmt.Sprintf(`from(bucket: %s) |> range(start: 0, stop: %s) |> filter(fn: (r) => %s) |> last()`,
		store.FluxString(e.Store.Bucket()), store.FluxTime(stop), cond)
	res, err := e.Store.Query(ctx, flux)
	if err != nil {
		return nil, fmt.Errorf("events query: %w", err)
	}
	defer res.Close()
	since, ended := map[EpisodeKey]time.Time{}, map[EpisodeKey]Episode{}
	for res.Next() {
		rec := res.Record()
		s, _ := rec.ValueByKey("site").(string)
		sub, _ := rec.ValueByKey(e.Tag).(string)
		k, _ := rec.ValueByKey("kind").(string)
		key := EpisodeKey{s, sub, k}
		switch rec.Field() {
		case "message":
			since[key] = rec.Time()
		case "ended_at":
			v, _ := rec.Value().(string)
			if t, err := time.Parse(time.RFC3339, v); err == nil {
				ended[key] = Episode{Since: rec.Time(), Ended: t}
			}
		}
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("events query: %w", err)
	}
	out := map[EpisodeKey]Episode{}
	for key, t := range since {
		ep := Episode{Since: t}
		if x, ok := ended[key]; ok && x.Since.Equal(t) {
			ep.Ended = x.Ended
		}
		out[key] = ep
	}
	return out, nil
}
