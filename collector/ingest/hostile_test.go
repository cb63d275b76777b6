package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/boilerwatch/boilerwatch/collector/ingest"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// TestHostileGateway: one gateway's well-formed messages that InfluxDB or
// the schema cannot take (a string where a float is stored, a field whose
// type InfluxDB fixed otherwise, an engine measurement, a stamp next week,
// an unregistered gateway) must cost only themselves: an honest gateway's
// samples keep arriving, each refusal is counted by reason and gateway and
// kept in the dead-letter store, and a restart brings nothing back. On
// real Mosquitto with its default in-flight window of 20, which 30
// unacknowledged messages fill.
func TestHostileGateway(t *testing.T) {
	t.Parallel()
	influx := servicetest.StartInflux(t)
	mosq := servicetest.StartMosquitto(t, "persistence false\n")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	st := store.Open(store.Config{URL: influx.URL, Bucket: influx.Bucket})
	defer st.Close()
	if err := st.EnsureDatabase(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	// What InfluxDB already holds: steam_flow as a float (the profile's
	// type), and legacy_note, which no profile declares, as a string.
	seed := []*write.Point{
		write.NewPointWithMeasurement("boiler").AddTag("site", "plant-a").AddTag("gateway", "gw-good").
			AddTag("device", "boiler1").AddTag("profile", "szl-chain-grate-plc").
			AddField("steam_flow", 9.5).AddField("legacy_note", "from an older version").SetTime(now.Add(-time.Hour)),
	}
	if err := st.Write(ctx, seed...); err != nil {
		t.Fatal(err)
	}

	lib, err := profile.LoadLibrary()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	start := func(id string) (*ingest.Consumer, func()) {
		schema, err := ingest.NewSchema(ingest.SchemaOptions{Library: lib, MaxFuture: 10 * time.Minute, Path: filepath.Join(dataDir, "field-types.json")})
		if err != nil {
			t.Fatal(err)
		}
		dl, err := ingest.OpenDeadLetters(filepath.Join(dataDir, "dead-letters"), 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		known := func(site, gw string) bool { return site == "plant-a" || site == "plant-b" }
		c := ingest.New(ingest.Options{Broker: mosq.URL, ClientID: id, Flush: 50 * time.Millisecond, MaxPoints: 100,
			Schema: schema, DeadLetters: dl, Known: known, Logger: log}, st)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(runCtx) }()
		return c, func() {
			stop()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("Run did not return within 10 s of cancel")
			}
		}
	}
	const consumerID = "bw-hostile-test"
	pre := connect(t, mosq.URL, consumerID, false)
	if tok := pre.Subscribe(telemetry.SamplesFilter, 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pre.Disconnect(250)

	sample := func(class, dev string, ts time.Time, values map[string]telemetry.Value) telemetry.Sample {
		return telemetry.Sample{Device: dev, Class: class, Profile: "szl-chain-grate-plc", TS: ts.UnixMilli(), Values: values}
	}
	msg := func(site, gw string, seq int, s ...telemetry.Sample) *telemetry.Message {
		return &telemetry.Message{V: telemetry.Version, Site: site, Gateway: gw, Seq: uint64(seq), Boot: "boot1", Samples: s}
	}
	type pub struct{ m *telemetry.Message }
	var hostile []*telemetry.Message
	wantRefused := map[ingest.Refusal]uint64{}
	for i := range 30 {
		ts := now.Add(time.Duration(i) * time.Second)
		// steam_flow as a string: the profile says number. The value is
		// marked bad, the sample (and its honest steam_temp) stored.
		hostile = append(hostile, msg("plant-b", "gw-bad", 4*i, sample("boiler", "boiler9", ts, map[string]telemetry.Value{
			"steam_flow": telemetry.Text("lots"), "steam_temp": telemetry.Number(180)})))
		// legacy_note as a number: InfluxDB holds it as a string.
		hostile = append(hostile, msg("plant-b", "gw-bad", 4*i+1, sample("boiler", "boiler9", ts.Add(100*time.Millisecond), map[string]telemetry.Value{
			"legacy_note": telemetry.Number(1)})))
		// The engine's measurement, and next week.
		hostile = append(hostile, msg("plant-b", "gw-bad", 4*i+2,
			sample("energy", "boiler9", ts, map[string]telemetry.Value{"kgce": telemetry.Text("poison")}),
			sample("boiler", "boiler9", now.Add(7*24*time.Hour+time.Duration(i)*time.Second), map[string]telemetry.Value{"mode": telemetry.Number(3)})))
		// A gateway of a site the registry does not know.
		hostile = append(hostile, msg("plant-x", "gw-bad", 4*i+3, sample("boiler", "boiler9", ts, map[string]telemetry.Value{"steam_flow": telemetry.Number(1)})))
	}
	wantRefused[ingest.Refusal{Reason: ingest.ReasonType, Site: "plant-b", Gateway: "gw-bad"}] = 30
	wantRefused[ingest.Refusal{Reason: ingest.ReasonInfluxRefused, Site: "plant-b", Gateway: "gw-bad"}] = 30
	wantRefused[ingest.Refusal{Reason: ingest.ReasonUnknownClass, Site: "plant-b", Gateway: "gw-bad"}] = 30
	wantRefused[ingest.Refusal{Reason: ingest.ReasonFuture, Site: "plant-b", Gateway: "gw-bad"}] = 30
	wantRefused[ingest.Refusal{Reason: ingest.ReasonUnknownGateway, Site: "plant-x", Gateway: "gw-bad"}] = 30

	c, stop := start(consumerID)
	p := connect(t, mosq.URL, "bw-hostile-publisher", true)
	defer p.Disconnect(250)
	publish := func(m *telemetry.Message) {
		tok := p.Publish(telemetry.SamplesTopic(m.Site, m.Gateway), 1, false, encode(m))
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	for _, m := range hostile {
		publish(m)
	}
	// Then an honest gateway: each of its samples must be stored within
	// seconds, exactly.
	const honest = 20
	for i := range honest {
		publish(msg("plant-a", "gw-good", i, sample("boiler", "boiler1", now.Add(time.Duration(i)*time.Second), map[string]telemetry.Value{
			"steam_flow": telemetry.Number(10 + float64(i)/4)})))
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.Stats.Messages.Load() < 3*30+honest || c.Stats.RejectedTotal() < 150 {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %d messages stored (want %d), refused %v: one gateway held back the others",
				c.Stats.Messages.Load(), 3*30+honest, c.Stats.Refused())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if got := c.Stats.Refused(); !maps.Equal(got, wantRefused) {
		t.Errorf("refused = %v\nwant %v", got, wantRefused)
	}

	rows := readAll(t, ctx, st)
	for i := range honest {
		k := key(point{Measurement: "boiler", TS: now.Add(time.Duration(i) * time.Second).UnixMilli(),
			Tags: map[string]string{"site": "plant-a", "gateway": "gw-good", "device": "boiler1", "profile": "szl-chain-grate-plc"}})
		if got := rows[k].Fields["steam_flow"]; got != 10+float64(i)/4 {
			t.Errorf("honest sample %d: steam_flow = %v, want %v", i, got, 10+float64(i)/4)
		}
	}
	for k, r := range rows {
		switch {
		case r.Measurement != "boiler":
			t.Errorf("%s: a gateway wrote measurement %s", k, r.Measurement)
		case r.Tags["site"] == "plant-x":
			t.Errorf("%s: an unregistered gateway's sample was stored", k)
		case r.TS > now.Add(time.Hour).UnixMilli():
			t.Errorf("%s: a sample stamped next week was stored", k)
		}
		if v, ok := r.Fields["steam_flow"]; ok {
			if _, isFloat := v.(float64); !isFloat {
				t.Errorf("%s: steam_flow stored as %T", k, v)
			}
		}
		if r.Tags["gateway"] == "gw-bad" && r.Fields["steam_temp"] != nil && r.Fields["_bad"] == nil {
			t.Errorf("%s: the string steam_flow is not listed in _bad", k)
		}
	}

	// Every refused message is in the dead-letter store, with its reasons.
	dl, err := ingest.OpenDeadLetters(filepath.Join(dataDir, "dead-letters"), 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	letters, err := dl.List()
	if err != nil {
		t.Fatal(err)
	}
	inStore := map[ingest.Refusal]uint64{}
	for _, l := range letters {
		if len(l.Payload()) == 0 {
			t.Errorf("letter %s without its message", l.Topic)
		}
		for _, pr := range l.Problems {
			inStore[ingest.Refusal{Reason: pr.Reason, Site: l.Site, Gateway: l.Gateway}]++
		}
	}
	if !maps.Equal(inStore, wantRefused) {
		t.Errorf("dead letters hold %v\nwant %v", inStore, wantRefused)
	}

	// A restart: nothing comes back, since everything was acknowledged.
	c2, stop2 := start(consumerID)
	publish(msg("plant-a", "gw-good", honest, sample("boiler", "boiler1", now.Add(honest*time.Second), map[string]telemetry.Value{"steam_flow": telemetry.Number(1)})))
	deadline = time.Now().Add(30 * time.Second)
	for c2.Stats.Messages.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("after a restart the honest message was not stored within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	stop2()
	if got := c2.Stats.Messages.Load(); got != 1 || c2.Stats.RejectedTotal() != 0 {
		t.Errorf("after a restart: %d messages, %v refused; want only the new one", got, c2.Stats.Refused())
	}
	fmt.Fprintf(t.Output(), "%d letters in the dead-letter store; refused %v\n", len(letters), wantRefused)

	// The operator registers plant-x and reingests a week later: those
	// letters and the next-week samples are stored, the rest come back.
	weekLater, err := ingest.NewSchema(ingest.SchemaOptions{Library: lib, MaxFuture: 10 * time.Minute, Path: filepath.Join(dataDir, "field-types.json"),
		Now: func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	rc := ingest.New(ingest.Options{MaxPoints: 100, Schema: weekLater, DeadLetters: dl, Known: func(string, string) bool { return true }, Logger: log}, st)
	taken, again, err := rc.Reingest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if taken != 120 || again != 90 {
		t.Errorf("reingest took %d letters, %d came back; want 120 and 90", taken, again)
	}
	back, err := dl.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 90 {
		t.Errorf("%d letters in the store after the reingest, want 90", len(back))
	}
	rows = readAll(t, ctx, st)
	var plantX, nextWeek int
	for _, r := range rows {
		if r.Tags["site"] == "plant-x" {
			plantX++
		}
		if r.TS > now.Add(7*24*time.Hour-time.Minute).UnixMilli() {
			nextWeek++
		}
	}
	if plantX != 30 || nextWeek != 30 {
		t.Errorf("after the reingest InfluxDB holds %d plant-x and %d next-week samples, want 30 and 30", plantX, nextWeek)
	}
}
