package ingest

import (
	"bytes"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
	lp "github.com/influxdata/line-protocol"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// clientLines is what the consumer wrote before it wrote lines itself: the
// message's points built as InfluxDB client points (tags in key order,
// fields in AppendLines' order) and encoded as the client's blocking write
// API encodes them.
func clientLines(t *testing.T, m *telemetry.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := lp.NewEncoder(&buf)
	enc.SetFieldTypeSupport(lp.UintSupport)
	enc.FailOnFieldErr(true)
	enc.SetPrecision(time.Millisecond)
	for _, s := range m.Samples {
		p := write.NewPointWithMeasurement(s.Class).
			AddTag("site", m.Site).AddTag("gateway", m.Gateway).AddTag("device", s.Device).AddTag("profile", s.Profile).
			SetTime(time.UnixMilli(s.TS)).SortTags()
		var names, bad []string
		for name, v := range s.Values {
			if v.Q == telemetry.Good {
				names = append(names, name)
				continue
			}
			reason := string(v.Q)
			if v.Err != "" {
				reason = v.Err
			}
			bad = append(bad, name+": "+reason)
		}
		sort.Strings(names)
		for _, name := range names {
			p.AddField(name, s.Values[name].Any())
		}
		if len(bad) > 0 {
			sort.Strings(bad)
			p.AddField(FieldBad, strings.Join(bad, "; "))
		}
		p.AddField(FieldSeq, int64(m.Seq))
		if _, err := enc.Encode(p); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// AppendLines writes byte for byte what the InfluxDB client wrote for the
// same points: numbers, strings with every character the client escapes,
// bools, bad values with texts to escape.
func TestAppendLinesAsClient(t *testing.T) {
	t.Parallel()
	msgs := map[string]*telemetry.Message{
		"values": {V: 1, Site: "plant-1", Gateway: "gw-1", Seq: math.MaxInt64, Boot: "b", Samples: []telemetry.Sample{{
			Device: "boiler1", Profile: "szl", Class: "boiler", TS: 1718000000123, Values: map[string]telemetry.Value{
				"steam_flow": telemetry.Number(9.87), "big": telemetry.Number(1e21), "tiny": telemetry.Number(5e-324),
				"neg": telemetry.Number(-math.MaxFloat64), "negz": telemetry.Number(math.Copysign(0, -1)), "int": telemetry.Number(123456789),
				"Upper": telemetry.Number(1), "0digit": telemetry.Number(2), "a.b-c": telemetry.Number(3),
				"on": telemetry.Boolean(true), "off": telemetry.Boolean(false),
				"mode": telemetry.Text("auto"), "empty": telemetry.Text(""),
				"escapes": telemetry.Text("q\"b\\t\tn\nf\fr\r, =end"), "cjk": telemetry.Text("锅炉 1 号"),
				"o2": {Q: telemetry.Bad, Err: `modbus: "timeout" \ 2`}, "co": {Q: telemetry.Stale}, "load": {Q: telemetry.Bad},
			}}}},
		"two samples, all bad": {V: 1, Site: "s", Gateway: "g", Seq: 0, Boot: "b", Samples: []telemetry.Sample{
			{Device: "m1", Profile: "p", Class: "electricity_meter", TS: 946684800000, Values: map[string]telemetry.Value{"ua": {Q: telemetry.Bad, Err: "x"}}},
			{Device: "m2", Profile: "p", Class: "steam_meter", TS: 4102444800000, Values: map[string]telemetry.Value{"f": telemetry.Number(1.5)}},
		}},
		// The encoder keeps the last sample's sorted names: the same
		// names, one turned bad and one more, one bad, others of the same count,
		// more, fewer.
		"names of the sample before": {V: 1, Site: "s", Gateway: "g", Seq: 7, Boot: "b", Samples: []telemetry.Sample{
			{Device: "m1", Profile: "p", Class: "c", TS: 1718000000001, Values: map[string]telemetry.Value{"b": telemetry.Number(1), "a": telemetry.Number(2), "c": telemetry.Number(3)}},
			{Device: "m2", Profile: "p", Class: "c", TS: 1718000000002, Values: map[string]telemetry.Value{"c": telemetry.Number(4), "b": telemetry.Number(5), "a": telemetry.Number(6)}},
			{Device: "m2b", Profile: "p", Class: "c", TS: 1718000000002, Values: map[string]telemetry.Value{"c": telemetry.Number(4), "b": {Q: telemetry.Bad}, "a": telemetry.Number(6), "d": telemetry.Number(1)}},
			{Device: "m3", Profile: "p", Class: "c", TS: 1718000000003, Values: map[string]telemetry.Value{"c": telemetry.Number(7), "b": {Q: telemetry.Stale}, "a": telemetry.Number(8)}},
			{Device: "m4", Profile: "p", Class: "c", TS: 1718000000004, Values: map[string]telemetry.Value{"c": telemetry.Number(9), "a": telemetry.Number(10)}},
			{Device: "m5", Profile: "p", Class: "c", TS: 1718000000005, Values: map[string]telemetry.Value{"d": telemetry.Number(11), "a": telemetry.Number(12)}},
			{Device: "m6", Profile: "p", Class: "c", TS: 1718000000006, Values: map[string]telemetry.Value{"d": telemetry.Number(13), "a": telemetry.Number(14), "b": telemetry.Number(15)}},
			{Device: "m7", Profile: "p", Class: "c", TS: 1718000000007, Values: map[string]telemetry.Value{"b": telemetry.Number(16)}},
		}},
	}
	for name, m := range msgs {
		t.Run(name, func(t *testing.T) {
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			want := clientLines(t, m)
			if got := AppendLines(nil, m); !bytes.Equal(got, want) {
				t.Errorf("AppendLines:\n%s\nthe client:\n%s", got, want)
			}
			// Appending keeps what was there, and the lines are the same.
			if got := AppendLines([]byte("x\n"), m); !bytes.Equal(got, append([]byte("x\n"), want...)) {
				t.Errorf("AppendLines after x:\n%s", got)
			}
		})
	}
}
