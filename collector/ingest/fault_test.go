package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/broker"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// seqWriter records the _seq of every point written, or fails while down.
type seqWriter struct {
	mu   sync.Mutex
	down bool
	seqs map[int64]int
}

func (w *seqWriter) WriteLines(_ context.Context, lines []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.down {
		return errors.New("connection refused")
	}
	for _, m := range seqField.FindAllSubmatch(lines, -1) {
		seq, err := strconv.ParseInt(string(m[1]), 10, 64)
		if err != nil {
			return err
		}
		w.seqs[seq]++
	}
	return nil
}

var seqField = regexp.MustCompile(FieldSeq + `=(\d+)i `)

func (w *seqWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seqs)
}

// TestNothingAckedUnwritten: while InfluxDB refuses writes the consumer
// acknowledges nothing; stopped then, a new consumer of the same session
// receives and writes every message. Against Mosquitto here, and against
// the embedded broker below.
func TestNothingAckedUnwritten(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nothingAckedUnwritten(ctx, t, servicetest.StartMosquitto(t, "").URL, log)
}

func nothingAckedUnwritten(ctx context.Context, t *testing.T, url string, log *slog.Logger) {
	const id, n = "bw-fault-test", 200

	// The session exists before anything is published.
	pre := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(false))
	if tok := pre.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if tok := pre.Subscribe(telemetry.SamplesFilter, 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	pre.Disconnect(100)

	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("bw-fault-pub"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	for i := 1; i <= n; i++ {
		m := telemetry.Message{V: telemetry.Version, Site: "s1", Gateway: "gw", Seq: uint64(i), Boot: "b1",
			Samples: []telemetry.Sample{{Device: "d", Profile: "p", Class: "boiler", TS: 1767225600000 + int64(i)*1000,
				Values: map[string]telemetry.Value{"o2": telemetry.Number(float64(i) / 10)}}}}
		payload, _ := json.Marshal(m)
		if tok := pub.Publish(telemetry.SamplesTopic("s1", "gw"), 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}

	run := func(w *seqWriter, until func(c *Consumer) bool) *Consumer {
		t.Helper()
		c := New(Options{Broker: url, ClientID: id, Flush: 20 * time.Millisecond, Logger: log}, w)
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(rctx) }()
		deadline := time.Now().Add(20 * time.Second)
		for !until(c) {
			if time.Now().After(deadline) {
				var missing []int64
				for i := int64(1); i <= n; i++ {
					if w.seqs[i] == 0 {
						missing = append(missing, i)
					}
				}
				t.Fatalf("consumer: %d written, %d write failures; never written: %v", c.Stats.Messages.Load(), c.Stats.WriteFailures.Load(), missing)
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return c
	}
	down := &seqWriter{down: true, seqs: map[int64]int{}}
	// While every write fails, the batch's wait shows in Stalled (/readyz).
	a := run(down, func(c *Consumer) bool { return c.Stats.WriteFailures.Load() >= 2 && c.Stalled() > time.Second })
	if got := a.Stats.Messages.Load(); got != 0 {
		t.Fatalf("%d messages counted as written while every write failed", got)
	}
	up := &seqWriter{seqs: map[int64]int{}}
	b2 := run(up, func(c *Consumer) bool { return up.count() == n && c.Stalled() == 0 })
	for i := int64(1); i <= n; i++ {
		if up.seqs[i] == 0 {
			t.Errorf("seq %d never written", i)
		}
	}
	t.Logf("second consumer wrote %d distinct messages (%d redelivered, DUP)", up.count(), b2.Stats.Redelivered.Load())
}

// TestNothingAckedUnwrittenEmbedded: the same on the embedded broker, the
// single-machine default. The last message is still being routed when its
// PUBACK reaches the publisher, so the first consumer's takeover of the
// session races it: before collector/broker's takeover hook, mochi dropped
// it in about one run in ten.
func TestNothingAckedUnwrittenEmbedded(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := broker.Start(ctx, "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	nothingAckedUnwritten(ctx, t, "tcp://"+b.Addr(), log)
}
