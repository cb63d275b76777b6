package ingest_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/broker"
	"github.com/boilerwatch/boilerwatch/collector/ingest"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// A generic profile's samples are stored under the measurement it names:
// the schema learns it from the profile library (ingest.profile_dirs), the
// gateway sends it as the sample's class, and "generic" itself is no
// measurement anyone may write.
func TestGenericProfileMeasurement(t *testing.T) {
	if testing.Short() {
		t.Skip("starts InfluxDB")
	}
	dir := t.TempDir()
	const chiller = "name: acme-chiller\nclass: generic\nmeasurement: chiller\nsource: test\npoints:\n" +
		"  - {name: t_out, register: input, address: 0, type: int16, scale: 0.1, unit: °C}\n" +
		"  - {name: running, register: coil, address: 0, type: bool}\n"
	if err := os.WriteFile(filepath.Join(dir, "acme-chiller.yaml"), []byte(chiller), 0o644); err != nil {
		t.Fatal(err)
	}
	lib, err := profile.LoadLibrary(dir)
	if err != nil {
		t.Fatal(err)
	}
	spec := lib["acme-chiller"]
	schema, err := ingest.NewSchema(ingest.SchemaOptions{Library: lib, MaxFuture: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	influx := servicetest.StartInflux(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
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
	const consumerID = "bw-generic-test"
	pre := connect(t, brokerURL, consumerID, false)
	if tok := pre.Subscribe(telemetry.SamplesFilter, 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pre.Disconnect(250)
	c := ingest.New(ingest.Options{Broker: brokerURL, ClientID: consumerID, Flush: 50 * time.Millisecond, Schema: schema, Logger: log}, st)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	defer func() {
		stop()
		<-done
	}()

	// As gateway/poll builds a sample: its class is the profile's measurement.
	good := telemetry.Sample{Device: "chiller1", Profile: spec.Name, Class: spec.MeasurementName(), TS: t0,
		Values: map[string]telemetry.Value{"t_out": telemetry.Number(7.5), "running": telemetry.Boolean(true)}}
	asGeneric := good
	asGeneric.Class, asGeneric.TS = profile.Generic, t0+1000
	pub := connect(t, brokerURL, "bw-generic-test-publisher", true)
	defer pub.Disconnect(250)
	for i, s := range []telemetry.Sample{good, asGeneric} {
		m := &telemetry.Message{V: telemetry.Version, Site: site, Gateway: gw, Seq: uint64(1 + i), Boot: "0123456789abcdef", Samples: []telemetry.Sample{s}}
		if tok := pub.Publish(topic, 1, false, encode(m)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.Stats.Samples.Load() < 1 || c.Stats.RejectedTotal() < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %d samples written, rejected %v", c.Stats.Samples.Load(), c.Stats.Rejected())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := c.Stats.Rejected()[ingest.ReasonUnknownClass]; got != 1 {
		t.Errorf("class %q refused %d times, want 1 (%v)", profile.Generic, got, c.Stats.Rejected())
	}
	rows := readAll(t, ctx, st)
	if len(rows) != 1 {
		t.Fatalf("InfluxDB holds %d rows, want 1: %v", len(rows), rows)
	}
	for k, r := range rows {
		if r.Measurement != "chiller" || r.Tags["profile"] != "acme-chiller" || r.Fields["t_out"] != 7.5 || r.Fields["running"] != true {
			t.Errorf("row %s = %+v, want measurement chiller, profile acme-chiller, t_out 7.5, running true", k, r)
		}
	}
}
