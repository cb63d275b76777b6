package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	lp "github.com/influxdata/line-protocol"

	"github.com/boilerwatch/boilerwatch/collector/broker"
	"github.com/boilerwatch/boilerwatch/collector/ingest"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// point is a line of line protocol or a row read back from InfluxDB, in a
// form that compares with reflect.DeepEqual.
type point struct {
	Measurement string
	Tags        map[string]string
	Fields      map[string]any
	TS          int64 // Unix ms
}

func view(p lp.Metric) point {
	v := point{Measurement: p.Name(), Tags: map[string]string{}, Fields: map[string]any{}, TS: p.Time().UnixMilli()}
	for _, t := range p.TagList() {
		v.Tags[t.Key] = t.Value
	}
	for _, f := range p.FieldList() {
		v.Fields[f.Key] = f.Value
	}
	return v
}

// parseLines reads line protocol with millisecond timestamps as InfluxDB
// would.
func parseLines(t *testing.T, lines []byte) []lp.Metric {
	t.Helper()
	h := lp.NewMetricHandler()
	h.SetTimePrecision(time.Millisecond)
	pts, err := lp.NewParser(h).Parse(lines)
	if err != nil {
		t.Fatalf("%s: %v", lines, err)
	}
	return pts
}

// TestPoints checks the mapping of a message to InfluxDB points: one wide
// point per sample, good values as typed fields, bad and stale ones only in
// _bad (sorted, the err or else the quality), _seq, and the source
// timestamp at millisecond precision.
func TestPoints(t *testing.T) {
	t.Parallel()
	const ts = 1718000000123
	tags := func(device, profile string) map[string]string {
		return map[string]string{"site": "plant-1", "gateway": "gw-1", "device": device, "profile": profile}
	}
	msg := func(seq uint64, samples ...telemetry.Sample) *telemetry.Message {
		return &telemetry.Message{V: 1, Site: "plant-1", Gateway: "gw-1", Seq: seq, Boot: "b", Samples: samples}
	}
	cases := []struct {
		name string
		msg  *telemetry.Message
		want []point
	}{
		{
			name: "every kind of value",
			msg: msg(7, telemetry.Sample{Device: "boiler1", Profile: "szl", Class: "boiler", TS: ts, Values: map[string]telemetry.Value{
				"steam_flow": telemetry.Number(9.87),
				"running":    telemetry.Boolean(true),
				"mode":       telemetry.Text("auto"),
				"o2":         {Q: telemetry.Bad, Err: "timeout"},
				"co":         {Q: telemetry.Stale},
				"load":       {Q: telemetry.Bad},
			}}),
			want: []point{{
				Measurement: "boiler", Tags: tags("boiler1", "szl"), TS: ts,
				Fields: map[string]any{
					"steam_flow": 9.87, "running": true, "mode": "auto",
					"_bad": "co: stale; load: bad; o2: timeout", "_seq": int64(7),
				},
			}},
		},
		{
			name: "all good: no _bad field",
			msg: msg(0, telemetry.Sample{Device: "m1", Profile: "chint", Class: "electricity_meter", TS: ts, Values: map[string]telemetry.Value{
				"ua": telemetry.Number(230.1), "zero": telemetry.Number(0.0), "off": telemetry.Boolean(false),
			}}),
			want: []point{{
				Measurement: "electricity_meter", Tags: tags("m1", "chint"), TS: ts,
				Fields: map[string]any{"ua": 230.1, "zero": 0.0, "off": false, "_seq": int64(0)},
			}},
		},
		{
			name: "all bad: only _bad and _seq",
			msg: msg(3, telemetry.Sample{Device: "m1", Profile: "chint", Class: "electricity_meter", TS: ts, Values: map[string]telemetry.Value{
				"ua": {Q: telemetry.Bad, Err: "modbus: exception '2' (illegal data address), function '3'"},
			}}),
			want: []point{{
				Measurement: "electricity_meter", Tags: tags("m1", "chint"), TS: ts,
				Fields: map[string]any{"_bad": "ua: modbus: exception '2' (illegal data address), function '3'", "_seq": int64(3)},
			}},
		},
		{
			name: "one point per sample, each with its own class and time",
			msg: msg(9,
				telemetry.Sample{Device: "b1", Profile: "p1", Class: "boiler", TS: ts, Values: map[string]telemetry.Value{"x": telemetry.Number(1.0)}},
				telemetry.Sample{Device: "s1", Profile: "p2", Class: "steam_meter", TS: ts + 1, Values: map[string]telemetry.Value{"y": telemetry.Number(2.5)}},
			),
			want: []point{
				{Measurement: "boiler", Tags: tags("b1", "p1"), TS: ts, Fields: map[string]any{"x": 1.0, "_seq": int64(9)}},
				{Measurement: "steam_meter", Tags: tags("s1", "p2"), TS: ts + 1, Fields: map[string]any{"y": 2.5, "_seq": int64(9)}},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pts := parseLines(t, ingest.AppendLines(nil, c.msg))
			if len(pts) != len(c.want) {
				t.Fatalf("%d points, want %d", len(pts), len(c.want))
			}
			for i, p := range pts {
				if got := view(p); !reflect.DeepEqual(got, c.want[i]) {
					t.Errorf("point %d:\n got %+v\nwant %+v", i, got, c.want[i])
				}
				// Millisecond precision is what the store writes with; a
				// finer time would make a redelivered sample a new point.
				if p.Time().Nanosecond()%int(time.Millisecond) != 0 {
					t.Errorf("point %d time %v is finer than ms", i, p.Time())
				}
			}
			// Same message, same points: redelivery overwrites, never adds.
			again := parseLines(t, ingest.AppendLines(nil, c.msg))
			for i := range pts {
				if !reflect.DeepEqual(view(pts[i]), view(again[i])) {
					t.Errorf("point %d differs between two calls", i)
				}
			}
		})
	}
}

const (
	site = "plant-it"
	gw   = "gw-it"
	// t0 is the first valid sample's time; malformed messages use times
	// from t0+malformedOffset, so that one written by mistake shows up as
	// an extra row.
	t0              = int64(1718000000000)
	malformedOffset = 100_000_000
)

var (
	topic      = telemetry.SamplesTopic(site, gw)
	devices    = []string{"boiler-0", "boiler-1", "boiler-2", "meter-0", "meter-1", "meter-2"}
	classOf    = map[byte]string{'b': "boiler", 'm': "electricity_meter"}
	profileOf  = map[byte]string{'b': "szl-chain-grate-plc", 'm': "chint-dtsu666"}
	modbusErr2 = "modbus: exception '2' (illegal data address), function '3'"
)

// validMessage is the i-th valid message: one or two samples of distinct
// devices and times, with good floats, bools and strings, and bad and stale
// values. A point keeps one type throughout, as InfluxDB requires.
func validMessage(i int) *telemetry.Message {
	sample := func(dev string, ts int64) telemetry.Sample {
		s := telemetry.Sample{Device: dev, Class: classOf[dev[0]], Profile: profileOf[dev[0]], TS: ts, Values: map[string]telemetry.Value{}}
		f := float64(i)
		if dev[0] == 'b' {
			s.Values["steam_flow"] = telemetry.Number(9.87 + f*0.013)
			s.Values["steam_temp"] = telemetry.Number(190.1 - f/7)
			s.Values["burner_running"] = telemetry.Boolean(i%2 == 0)
			s.Values["mode"] = telemetry.Text([]string{"auto", "manual", "烘炉"}[i%3])
			if i%7 == 0 {
				s.Values["steam_flow"] = telemetry.Value{Q: telemetry.Bad, Err: "i/o timeout"}
			}
			if i%11 == 0 {
				s.Values["steam_temp"] = telemetry.Value{Q: telemetry.Stale}
			}
			if i%13 == 0 {
				s.Values["mode"] = telemetry.Value{Q: telemetry.Bad, Err: modbusErr2}
			}
			return s
		}
		s.Values["ua"] = telemetry.Number(229.5 + f*0.1)
		s.Values["ep_import"] = telemetry.Number(123456.789 + f*1e3)
		s.Values["ia"] = telemetry.Number(-1.25 * f)
		if i%5 == 0 {
			s.Values["ia"] = telemetry.Value{Q: telemetry.Bad}
		}
		if i%17 == 0 { // a sample with no good value at all
			for k := range s.Values {
				s.Values[k] = telemetry.Value{Q: telemetry.Bad, Err: "device offline"}
			}
		}
		return s
	}
	ts := t0 + int64(i)*1000
	m := &telemetry.Message{
		V: telemetry.Version, Site: site, Gateway: gw, Seq: uint64(1000 + i), Boot: "0123456789abcdef",
		Historical: i%4 == 0,
		Samples:    []telemetry.Sample{sample(devices[i%len(devices)], ts)},
	}
	if i%3 == 0 {
		m.Samples = append(m.Samples, sample(devices[(i+1)%len(devices)], ts+1))
	}
	return m
}

// malformedKind produces one kind of rejected payload; k numbers the
// instance so that payloads differ.
type malformedKind struct {
	name   string
	n      int
	reason string // Stats.Rejected key
	build  func(k int, rng *rand.Rand) []byte
}

// asMap is a valid message as generic JSON, for breaking one rule at a time.
func asMap(k int) map[string]any {
	m := validMessage(k)
	for i := range m.Samples {
		m.Samples[i].TS += malformedOffset
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func firstSample(m map[string]any) map[string]any {
	return m["samples"].([]any)[0].(map[string]any)
}

func firstValues(m map[string]any) map[string]any {
	return firstSample(m)["values"].(map[string]any)
}

// malformed lists 1000 rejected payloads by kind and expected reason.
var malformed = []malformedKind{
	{"not JSON", 100, "syntax", func(k int, _ *rand.Rand) []byte {
		return fmt.Appendf(nil, "steam_flow=%d.5 ts=%d", k, t0)
	}},
	{"binary garbage", 100, "syntax", func(k int, rng *rand.Rand) []byte {
		b := make([]byte, 1+rng.IntN(512))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		b[0] = 0xff // never valid UTF-8, never JSON
		return b
	}},
	{"empty", 50, "syntax", func(int, *rand.Rand) []byte { return []byte{} }},
	{"truncated", 50, "syntax", func(k int, _ *rand.Rand) []byte {
		b := encode(asMap(k))
		return b[:len(b)/2]
	}},
	{"nested beyond the decoder's depth limit", 30, "syntax", func(k int, _ *rand.Rand) []byte {
		return []byte(`{"v":1,"x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + "}")
	}},
	{"nested in an unknown field", 30, "invalid", func(k int, _ *rand.Rand) []byte {
		m := asMap(k)
		m["x"] = json.RawMessage(strings.Repeat(`{"a":[`, 300) + strings.Repeat("]}", 300))
		return encode(m)
	}},
	{"wrong version", 150, "version", func(k int, _ *rand.Rand) []byte {
		m := asMap(k)
		switch k % 3 {
		case 0:
			m["v"] = 2
		case 1:
			m["v"] = 0
		default:
			delete(m, "v")
		}
		return encode(m)
	}},
	{"missing field", 100, "invalid", func(k int, _ *rand.Rand) []byte {
		m := asMap(k)
		switch k % 6 {
		case 0:
			delete(m, "site")
		case 1:
			delete(m, "boot")
		case 2:
			delete(m, "samples")
		case 3:
			delete(firstSample(m), "values")
		case 4:
			delete(firstSample(m), "ts")
		default:
			delete(firstSample(m), "class")
		}
		return encode(m)
	}},
	{"wrong type", 100, "invalid", func(k int, _ *rand.Rand) []byte {
		m := asMap(k)
		switch k % 5 {
		case 0:
			m["seq"] = "1000"
		case 1:
			firstSample(m)["ts"] = fmt.Sprint(t0)
		case 2:
			firstSample(m)["values"] = []any{1, 2}
		case 3:
			m["samples"] = map[string]any{}
		default:
			m["historical"] = "yes"
		}
		return encode(m)
	}},
	{"bad name", 100, "invalid", func(k int, _ *rand.Rand) []byte {
		m := asMap(k)
		switch k % 4 {
		case 0:
			firstSample(m)["device"] = "_boiler"
		case 1:
			firstValues(m)["steam flow"] = map[string]any{"v": 1, "q": "good"}
		case 2:
			firstSample(m)["class"] = "boiler/1"
		default:
			m["site"] = "plant it"
		}
		return encode(m)
	}},
	{"bad quality or value", 80, "invalid", func(k int, _ *rand.Rand) []byte {
		m := asMap(k)
		vals := firstValues(m)
		var name string
		for n := range vals {
			name = n
			break
		}
		switch k % 5 {
		case 0:
			vals[name] = map[string]any{"v": 1, "q": "uncertain"}
		case 1:
			vals[name] = map[string]any{"v": 0, "q": "bad", "err": "timeout"} // a bad value with a number
		case 2:
			vals[name] = map[string]any{"q": "good"}
		case 3:
			vals[name] = map[string]any{"v": json.RawMessage("1e400"), "q": "good"}
		default:
			vals[name] = map[string]any{"v": []any{1}, "q": "good"}
		}
		return encode(m)
	}},
	{"payload of another gateway", 100, "topic_mismatch", func(k int, _ *rand.Rand) []byte {
		m := asMap(k)
		if k%2 == 0 {
			m["gateway"] = "gw-other"
		} else {
			m["site"] = "plant-other"
		}
		return encode(m)
	}},
	{"larger than MaxPayload", 10, "too_large", func(k int, _ *rand.Rand) []byte {
		b := encode(asMap(k))
		return append(b, strings.Repeat(" ", telemetry.MaxPayload+1+k-len(b))...)
	}},
}

// TestConsumer runs the consumer against the embedded broker and a real
// InfluxDB, with valid messages interleaved among 1000 malformed ones: every
// valid sample must arrive exactly, nothing of a malformed one may, and each
// reject must be counted under its reason.
func TestConsumer(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts InfluxDB")
	}
	influx := servicetest.StartInflux(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Rejects are logged as warnings, 1000 of them; show only errors.
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))

	b, err := broker.Start(ctx, "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	brokerURL := "tcp://" + b.Addr()

	st := store.Open(store.Config{URL: influx.URL, Bucket: influx.Bucket})
	defer st.Close()
	if err := st.EnsureDatabase(ctx); err != nil {
		t.Fatal(err)
	}

	// The consumer subscribes asynchronously after connecting, and a QoS 1
	// publish before that would reach nobody. Create its persistent session
	// and subscription first, under its client id: the broker then queues
	// everything for it, whenever it connects.
	const consumerID = "bw-ingest-test"
	pre := connect(t, brokerURL, consumerID, false)
	if tok := pre.Subscribe(telemetry.SamplesFilter, 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pre.Disconnect(250)

	c := ingest.New(ingest.Options{Broker: brokerURL, ClientID: consumerID, Flush: 50 * time.Millisecond, Logger: log}, st)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	defer func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10 s of cancel")
		}
	}()

	// The payloads, shuffled so that valid and malformed ones interleave.
	type publish struct {
		topic   string
		payload []byte
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var pubs []publish
	const validN = 240
	want := map[string]point{} // by key()
	for i := range validN {
		m := validMessage(i)
		pubs = append(pubs, publish{topic, encode(m)})
		for _, s := range m.Samples {
			w := expectedPoint(m, s)
			want[key(w)] = w
		}
	}
	wantReasons := map[string]uint64{}
	total := 0
	for _, kind := range malformed {
		for k := range kind.n {
			pubs = append(pubs, publish{topic, kind.build(k, rng)})
		}
		wantReasons[kind.reason] += uint64(kind.n)
		total += kind.n
	}
	if total != 1000 {
		t.Fatalf("malformed kinds add up to %d, want 1000", total)
	}
	rng.Shuffle(len(pubs), func(i, j int) { pubs[i], pubs[j] = pubs[j], pubs[i] })

	pub := connect(t, brokerURL, "bw-ingest-test-publisher", true)
	defer pub.Disconnect(250)
	for i, p := range pubs {
		tok := pub.Publish(p.topic, 1, false, p.payload)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d (%d bytes): not acknowledged: %v", i, len(p.payload), tok.Error())
		}
	}

	// Counters settle once every message was written or rejected.
	deadline := time.Now().Add(60 * time.Second)
	for c.Stats.Messages.Load() < validN || c.Stats.RejectedTotal() < 1000 {
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: %d messages accepted (want %d), rejected %v (want %v)",
				c.Stats.Messages.Load(), validN, c.Stats.Rejected(), wantReasons)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A few flush intervals more, so that an extra (duplicate) delivery
	// would be counted before we compare.
	time.Sleep(300 * time.Millisecond)
	if got := c.Stats.Messages.Load(); got != validN {
		t.Errorf("Stats.Messages = %d, want %d", got, validN)
	}
	if got := c.Stats.RejectedTotal(); got != 1000 {
		t.Errorf("Stats.RejectedTotal() = %d, want 1000", got)
	}
	if got := c.Stats.Rejected(); !maps.Equal(got, wantReasons) {
		t.Errorf("rejected by reason = %v, want %v", got, wantReasons)
	}
	if got := c.Stats.Samples.Load(); got != uint64(len(want)) {
		t.Errorf("Stats.Samples = %d, want %d", got, len(want))
	}

	got := readAll(t, ctx, st)
	var badSamples, numbersWithheld int
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("sample %s missing from InfluxDB", k)
			continue
		}
		if !reflect.DeepEqual(g.Fields, w.Fields) {
			t.Errorf("sample %s:\n got %v\nwant %v", k, g.Fields, w.Fields)
		}
		if bad, ok := w.Fields[ingest.FieldBad].(string); ok {
			badSamples++
			// Each point listed as bad has no numeric (or any) field.
			for _, item := range strings.Split(bad, "; ") {
				name, _, _ := strings.Cut(item, ": ")
				if v, ok := g.Fields[name]; ok {
					t.Errorf("sample %s: bad point %s written as %v", k, name, v)
				}
				numbersWithheld++
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("InfluxDB holds a sample that was never valid: %s %v", k, got[k].Fields)
		}
	}
	if badSamples == 0 || numbersWithheld == 0 {
		t.Errorf("the valid messages had %d samples with bad values; the test needs some", badSamples)
	}
	t.Logf("%d valid messages (%d samples, %d with bad or stale values), 1000 rejected: %v", validN, len(want), badSamples, c.Stats.Rejected())
}

// expectedPoint is the row a sample must become, written out independently
// of ingest.AppendLines.
func expectedPoint(m *telemetry.Message, s telemetry.Sample) point {
	p := point{
		Measurement: s.Class, TS: s.TS,
		Tags:   map[string]string{"site": m.Site, "gateway": m.Gateway, "device": s.Device, "profile": s.Profile},
		Fields: map[string]any{"_seq": int64(m.Seq)},
	}
	var bad []string
	for name, v := range s.Values {
		switch v.Q {
		case telemetry.Good:
			p.Fields[name] = v.Any()
		default:
			reason := v.Err
			if reason == "" {
				reason = string(v.Q)
			}
			bad = append(bad, name+": "+reason)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		p.Fields["_bad"] = strings.Join(bad, "; ")
	}
	return p
}

// key identifies a row: its series (measurement and tags) and time.
func key(p point) string {
	return fmt.Sprintf("%s,site=%s,gateway=%s,device=%s,profile=%s@%d",
		p.Measurement, p.Tags["site"], p.Tags["gateway"], p.Tags["device"], p.Tags["profile"], p.TS)
}

// readAll reads every row of the bucket back, one wide row per series and
// time.
func readAll(t *testing.T, ctx context.Context, st *store.Store) map[string]point {
	t.Helper()
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	flux := fmt.Sprintf(`from(bucket: %s) |> range(start: 2000-01-01T00:00:00Z, stop: 2100-01-02T00:00:00Z)`, store.FluxString(st.Bucket()))
	res, err := st.Query(qctx, flux)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	rows := map[string]point{}
	for res.Next() {
		r := res.Record()
		p := point{Measurement: r.Measurement(), TS: r.Time().UnixMilli(), Tags: map[string]string{}}
		for _, tag := range []string{"site", "gateway", "device", "profile"} {
			p.Tags[tag], _ = r.ValueByKey(tag).(string)
		}
		k := key(p)
		if have, ok := rows[k]; ok {
			p = have
		} else {
			p.Fields = map[string]any{}
		}
		if _, dup := p.Fields[r.Field()]; dup {
			t.Errorf("row %s: field %s returned twice", k, r.Field())
		}
		p.Fields[r.Field()] = r.Value()
		rows[k] = p
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// connect opens a paho client on loopback and waits for the CONNACK.
func connect(t *testing.T, brokerURL, id string, clean bool) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(id).
		SetCleanSession(clean).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
	cl := mqtt.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect %s as %s: %v", brokerURL, id, tok.Error())
	}
	return cl
}
