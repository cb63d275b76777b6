package ingest

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// The fields beside the points, named so that no point can be called so.
const (
	FieldSeq = telemetry.FieldSeq
	FieldBad = telemetry.FieldBad
)

// AppendLines appends a validated message's points to b as InfluxDB line
// protocol, one line per sample, each ending in a newline: one wide point
// per sample, measurement = device class, tags site/gateway/device/profile,
// one field per good value, timestamp = source timestamp in milliseconds
// (the store's precision). Bad and stale values are never written as
// numbers; they are listed in _bad. The lines depend only on the message's
// content, so a redelivered message overwrites the same points.
//
// The consumer writes lines rather than the InfluxDB client's points:
// building those and encoding them cost it about a quarter of its CPU
// draining a backlog.
func AppendLines(b []byte, m *telemetry.Message) []byte {
	var e lineEncoder
	for i := range m.Samples {
		b = e.appendSample(b, m, &m.Samples[i])
	}
	return b
}

// lineEncoder writes samples as line protocol, reusing its buffers.
type lineEncoder struct {
	names, bad []string // names: the good values' names of the last sample, sorted
}

// appendSample writes one sample's line. Names need no escaping: a valid
// message's names are telemetry.ValidName, [A-Za-z0-9_.-]. Tags are in
// key order (InfluxDB sorts them otherwise), values by name, then _bad and
// _seq. Numbers, strings and bools are written as the InfluxDB client's
// encoder (github.com/influxdata/line-protocol) writes them.
func (e *lineEncoder) appendSample(b []byte, m *telemetry.Message, s *telemetry.Sample) []byte {
	b = append(b, s.Class...)
	b = append(b, ",device="...)
	b = append(b, s.Device...)
	b = append(b, ",gateway="...)
	b = append(b, m.Gateway...)
	b = append(b, ",profile="...)
	b = append(b, s.Profile...)
	b = append(b, ",site="...)
	b = append(b, m.Site...)
	e.bad = e.bad[:0]
	good := 0
	for name, v := range s.Values {
		if v.Q == telemetry.Good {
			good++
			continue
		}
		reason := string(v.Q)
		if v.Err != "" {
			reason = v.Err
		}
		e.bad = append(e.bad, name+": "+reason)
	}
	// The samples of a device have the same points, sorted once: sorting
	// cost a twentieth of the collector's CPU draining a backlog.
	if !sameGood(e.names, good, s.Values) {
		e.names = e.names[:0]
		for name, v := range s.Values {
			if v.Q == telemetry.Good {
				e.names = append(e.names, name)
			}
		}
		slices.Sort(e.names)
	}
	sep := byte(' ')
	for _, name := range e.names {
		b = append(b, sep)
		sep = ','
		b = append(b, name...)
		b = append(b, '=')
		switch v := s.Values[name]; v.Kind {
		case telemetry.KindNumber:
			b = strconv.AppendFloat(b, v.Num, 'f', -1, 64)
		case telemetry.KindBool:
			b = strconv.AppendBool(b, v.Bool)
		case telemetry.KindString:
			b = appendStringField(b, v.Str)
		}
	}
	if len(e.bad) > 0 {
		sort.Strings(e.bad)
		b = append(b, sep)
		sep = ','
		b = append(b, FieldBad+"="...)
		b = appendStringField(b, strings.Join(e.bad, "; "))
	}
	b = append(b, sep)
	b = append(b, FieldSeq+"="...)
	b = strconv.AppendInt(b, int64(m.Seq), 10)
	b = append(b, "i "...)
	b = strconv.AppendInt(b, s.TS, 10)
	return append(b, '\n')
}

// sameGood reports whether names are the good values of vals, good of them.
func sameGood(names []string, good int, vals map[string]telemetry.Value) bool {
	if len(names) != good {
		return false
	}
	for _, n := range names {
		if v, ok := vals[n]; !ok || v.Q != telemetry.Good {
			return false
		}
	}
	return true
}

// appendStringField writes a string field value quoted and escaped as the
// line-protocol encoder escapes it.
func appendStringField(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\t':
			b = append(b, `\t`...)
		case '\n':
			b = append(b, `\n`...)
		case '\f':
			b = append(b, `\f`...)
		case '\r':
			b = append(b, `\r`...)
		case '"', '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
