package ingest

import (
	"sort"
	"strings"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// The fields beside the points, named so that no point can be called so.
const (
	FieldSeq = telemetry.FieldSeq
	FieldBad = telemetry.FieldBad
)

// Points turns a validated message into one wide InfluxDB point per sample:
// measurement = device class, tags site/gateway/device/profile, one field per
// good value, timestamp = source timestamp. Bad and stale values are never
// written as numbers; they are listed in _bad. The result depends only on the
// message's content, so a redelivered message overwrites the same points.
func Points(m *telemetry.Message) []*write.Point {
	pts := make([]*write.Point, 0, len(m.Samples))
	for _, s := range m.Samples {
		p := write.NewPointWithMeasurement(s.Class).
			AddTag("site", m.Site).
			AddTag("gateway", m.Gateway).
			AddTag("device", s.Device).
			AddTag("profile", s.Profile).
			SetTime(time.UnixMilli(s.TS))
		var bad []string
		for name, v := range s.Values {
			if v.Q == telemetry.Good {
				p.AddField(name, v.Any())
				continue
			}
			reason := string(v.Q)
			if v.Err != "" {
				reason = v.Err
			}
			bad = append(bad, name+": "+reason)
		}
		if len(bad) > 0 {
			sort.Strings(bad)
			p.AddField(FieldBad, strings.Join(bad, "; "))
		}
		p.AddField(FieldSeq, int64(m.Seq))
		pts = append(pts, p)
	}
	return pts
}
