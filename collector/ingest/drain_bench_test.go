package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Backlog of the drain benchmark: 50,000 messages of 20 values, 1,000,000
// values in all, as 20 gateways would leave after a long collector outage.
const (
	drainMessages = 50000
	drainValues   = 20
	drainGateways = 20
)

func drainMessage(i int) telemetry.Message {
	gw := fmt.Sprintf("gw-%02d", i%drainGateways)
	n := i / drainGateways
	vals := make(map[string]telemetry.Value, drainValues)
	for v := range drainValues {
		vals[fmt.Sprintf("p%02d", v)] = telemetry.Number(float64(n%1000) + float64(v)/100)
	}
	return telemetry.Message{V: telemetry.Version, Site: "bench", Gateway: gw, Seq: uint64(n + 1), Boot: "b00700000000000a",
		Samples: []telemetry.Sample{{Device: "dev", Profile: "bench-profile", Class: "bench", TS: 1767225600000 + int64(n)*1000, Values: vals}}}
}

// BenchmarkDrain measures how long the collector takes to drain a backlog of
// 50,000 queued messages from Mosquitto into InfluxDB, acknowledging each
// only after its write, against the two limits it works between: a bare
// QoS 1 subscriber draining the same backlog (acknowledging at once), and
// InfluxDB accepting the same 1,000,000 values as line protocol in the
// collector's batch size. It runs once, whatever b.N.
func BenchmarkDrain(b *testing.B) {
	if testing.Short() {
		b.Skip("starts InfluxDB and Mosquitto")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	influx := servicetest.StartInflux(b)
	conf, err := os.ReadFile(filepath.Join(servicetest.RepoRoot(b), "deploy", "mosquitto", "conf.d", "boilerwatch.conf"))
	if err != nil {
		b.Fatal(err)
	}
	mq := servicetest.StartMosquitto(b, string(conf)+"persistence_location {{dir}}/\n")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Persistent sessions for both consumers, then the backlog.
	for _, id := range []string{"bench-collector", "bench-bare"} {
		c := benchClient(b, mq.URL, id, false, nil)
		if tok := c.Subscribe(telemetry.SamplesFilter, 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatalf("subscribe: %v", tok.Error())
		}
		c.Disconnect(250)
	}
	payloads := make([][]byte, drainMessages)
	var lines bytes.Buffer
	var lineBatches [][]byte
	for i := range payloads {
		m := drainMessage(i)
		payloads[i], _ = json.Marshal(m)
		lines.Write(AppendLines(nil, &m))
		if (i+1)%5000 == 0 {
			lineBatches = append(lineBatches, bytes.Clone(lines.Bytes()))
			lines.Reset()
		}
	}
	pub := benchClient(b, mq.URL, "bench-publisher", true, nil)
	start := time.Now()
	toks := make([]mqtt.Token, len(payloads))
	for i, p := range payloads {
		m := drainMessage(i)
		toks[i] = pub.Publish(telemetry.SamplesTopic(m.Site, m.Gateway), 1, false, p)
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
			b.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	pub.Disconnect(250)
	b.Logf("backlog of %d messages queued in %s", drainMessages, time.Since(start).Round(time.Millisecond))

	b.ResetTimer()
	// 1. A bare QoS 1 subscriber, acknowledging on receipt.
	var got atomic.Int64
	done := make(chan struct{})
	start = time.Now()
	bare := benchClient(b, mq.URL, "bench-bare", false, func(mqtt.Client, mqtt.Message) {
		if got.Add(1) == drainMessages {
			close(done)
		}
	})
	select {
	case <-done:
	case <-ctx.Done():
		b.Fatalf("bare subscriber got %d of %d", got.Load(), drainMessages)
	}
	bareTime := time.Since(start)
	bare.Disconnect(250)

	// 2. InfluxDB alone: the same points as line protocol, 5000 per write.
	direct := store.Open(store.Config{URL: influx.URL, Bucket: "direct/autogen"})
	defer direct.Close()
	if err := direct.EnsureDatabase(ctx); err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	for _, batch := range lineBatches {
		influx.WriteLines(b, "direct/autogen", batch)
	}
	influxTime := time.Since(start)

	// 3. The collector's consumer: write, then acknowledge.
	st := store.Open(store.Config{URL: influx.URL, Bucket: influx.Bucket})
	defer st.Close()
	if err := st.EnsureDatabase(ctx); err != nil {
		b.Fatal(err)
	}
	c := New(Options{Broker: mq.URL, ClientID: "bench-collector", Logger: log}, st)
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	start = time.Now()
	go func() { ran <- c.Run(runCtx) }()
	for c.Stats.Messages.Load() < drainMessages {
		if ctx.Err() != nil {
			b.Fatalf("collector wrote %d of %d", c.Stats.Messages.Load(), drainMessages)
		}
		time.Sleep(5 * time.Millisecond)
	}
	collectorTime := time.Since(start)
	b.Logf("collector: %d messages written (%d redelivered by the broker)", c.Stats.Messages.Load(), c.Stats.Redelivered.Load())
	stop()
	<-ran
	b.StopTimer()
	// Let the broker read the closed connection to its end (the last
	// acknowledgements) before the same client id connects again.
	time.Sleep(time.Second)

	// Every message was acknowledged: the session holds nothing more.
	var left atomic.Int64
	after := benchClient(b, mq.URL, "bench-collector", false, func(_ mqtt.Client, m mqtt.Message) { left.Add(1) })
	time.Sleep(2 * time.Second)
	after.Disconnect(250)
	if left.Load() != 0 {
		b.Errorf("%d messages redelivered after the collector's drain: acknowledged too late or not at all", left.Load())
	}
	limit := max(bareTime, influxTime)
	ratio := collectorTime.Seconds() / limit.Seconds()
	fmt.Printf("\nDrain of %d messages × %d values (%d values) from Mosquitto into InfluxDB 1.8\n", drainMessages, drainValues, drainMessages*drainValues)
	fmt.Printf("  %-44s %8s %12s\n", "", "seconds", "messages/s")
	row := func(name string, d time.Duration) {
		fmt.Printf("  %-44s %8.2f %12.0f\n", name, d.Seconds(), drainMessages/d.Seconds())
	}
	row("bare QoS 1 subscriber (Mosquitto limit)", bareTime)
	row("InfluxDB direct, line protocol, 5000/write", influxTime)
	row("collector (write, then acknowledge)", collectorTime)
	fmt.Printf("  collector / max(limits) = %.2f (target ≤ 2)\n\n", ratio)
	b.ReportMetric(bareTime.Seconds(), "bare-s")
	b.ReportMetric(influxTime.Seconds(), "influx-s")
	b.ReportMetric(collectorTime.Seconds(), "collector-s")
	b.ReportMetric(ratio, "collector/limit")
	// A missed target is reported, not failed: on a shared machine the
	// three processes compete for the same cores and the ratio moves.
	if ratio > 2 {
		fmt.Printf("  TARGET MISSED: collector drain %.2fs is %.2f× the larger limit (%.2fs)\n\n", collectorTime.Seconds(), ratio, limit.Seconds())
	}
}

func benchClient(b *testing.B, url, id string, clean bool, h mqtt.MessageHandler) mqtt.Client {
	b.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).SetAutoReconnect(false)
	if h != nil {
		o.SetDefaultPublishHandler(h)
	}
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("connect %s: %v", id, tok.Error())
	}
	return c
}
