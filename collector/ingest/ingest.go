// Package ingest consumes telemetry from MQTT, validates it and writes it to
// InfluxDB, acknowledging each message only after its points were written.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Writer is where points go; it returns once they are durable.
type Writer interface {
	Write(ctx context.Context, points ...*write.Point) error
}

// Options configure the consumer.
type Options struct {
	Broker, ClientID   string
	Username, Password string
	// ShareGroup, when set, subscribes with $share/<group>/ so that several
	// collectors split the stream.
	ShareGroup string
	// MaxPoints and Flush bound a batch: it is written when either is reached.
	MaxPoints int
	Flush     time.Duration
	Logger    *slog.Logger
}

// Stats are the consumer's counters.
type Stats struct {
	Messages      atomic.Uint64 // accepted messages
	Samples       atomic.Uint64 // samples written
	Points        atomic.Uint64 // values written
	WriteFailures atomic.Uint64
	mu            sync.Mutex
	rejected      map[string]uint64
}

// Rejected returns the count of rejected payloads by reason.
func (s *Stats) Rejected() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.rejected))
	for k, v := range s.rejected {
		out[k] = v
	}
	return out
}

// RejectedTotal sums Rejected.
func (s *Stats) RejectedTotal() uint64 {
	var n uint64
	for _, v := range s.Rejected() {
		n += v
	}
	return n
}

func (s *Stats) reject(reason string) {
	s.mu.Lock()
	if s.rejected == nil {
		s.rejected = map[string]uint64{}
	}
	s.rejected[reason]++
	s.mu.Unlock()
}

// Consumer reads telemetry from the broker.
type Consumer struct {
	o     Options
	w     Writer
	log   *slog.Logger
	in    chan mqtt.Message
	Stats Stats
}

// inflight bounds messages received but not yet written; beyond it paho's
// router waits, and with it the broker.
const inflight = 10000

// New prepares a consumer; Run connects and consumes.
func New(o Options, w Writer) *Consumer {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxPoints <= 0 {
		o.MaxPoints = 5000
	}
	if o.Flush <= 0 {
		o.Flush = 200 * time.Millisecond
	}
	return &Consumer{o: o, w: w, log: o.Logger.With("component", "ingest"), in: make(chan mqtt.Message, inflight)}
}

// Run consumes until ctx is done.
func (c *Consumer) Run(ctx context.Context) error {
	filter := telemetry.TelemetryFilter
	if c.o.ShareGroup != "" {
		filter = "$share/" + c.o.ShareGroup + "/" + filter
	}
	opts := mqtt.NewClientOptions().
		AddBroker(c.o.Broker).
		SetClientID(c.o.ClientID).
		SetUsername(c.o.Username).
		SetPassword(c.o.Password).
		// A persistent session keeps messages queued at the broker while we
		// are away, and manual acks keep them there until written.
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second)
	opts.SetOnConnectHandler(func(cl mqtt.Client) {
		c.log.Info("mqtt connected", "broker", c.o.Broker, "filter", filter)
		go func() {
			tok := cl.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
				select {
				case c.in <- m:
				case <-ctx.Done():
				}
			})
			if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
				return
			}
			c.log.Error("subscribe failed", "filter", filter, "error", tok.Error())
		}()
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		c.log.Warn("mqtt connection lost", "broker", c.o.Broker, "error", err)
	})
	client := mqtt.NewClient(opts)
	client.Connect()
	defer client.Disconnect(500)
	return c.loop(ctx)
}

type pending struct {
	msgs   []mqtt.Message
	points []*write.Point
	values int
}

func (c *Consumer) loop(ctx context.Context) error {
	var batch pending
	timer := time.NewTimer(c.o.Flush)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-c.in:
			c.add(&batch, m)
			if len(batch.points) < c.o.MaxPoints {
				continue
			}
		case <-timer.C:
		}
		if len(batch.msgs) > 0 {
			if err := c.flush(ctx, &batch); err != nil {
				return nil // only ctx ends a flush with an error
			}
		}
		timer.Reset(c.o.Flush)
	}
}

// add validates one message into the batch; an invalid one is counted,
// logged and acknowledged, since redelivering it cannot make it valid.
func (c *Consumer) add(b *pending, m mqtt.Message) {
	msg, err := c.decode(m.Topic(), m.Payload())
	if err != nil {
		reason := rejectReason(err)
		c.Stats.reject(reason)
		c.log.Warn("payload rejected", "topic", m.Topic(), "reason", reason, "error", truncate(err.Error(), 300), "bytes", len(m.Payload()))
		m.Ack()
		return
	}
	b.msgs = append(b.msgs, m)
	for _, s := range msg.Samples {
		b.values += len(s.Values)
	}
	b.points = append(b.points, Points(msg)...)
}

// ErrTopicMismatch: the payload's site or gateway differs from its topic.
var ErrTopicMismatch = errors.New("payload does not match its topic")

func (c *Consumer) decode(topic string, payload []byte) (*telemetry.Message, error) {
	site, gw, _, err := telemetry.ParseTopic(topic)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", telemetry.ErrInvalid, err)
	}
	msg, err := telemetry.Decode(payload)
	if err != nil {
		return nil, err
	}
	if msg.Site != site || msg.Gateway != gw {
		return nil, fmt.Errorf("%w: payload site/gateway %s/%s on topic of %s/%s", ErrTopicMismatch, msg.Site, msg.Gateway, site, gw)
	}
	return msg, nil
}

func rejectReason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{telemetry.ErrTooLarge, "too_large"},
		{telemetry.ErrSyntax, "syntax"},
		{telemetry.ErrVersion, "version"},
		{ErrTopicMismatch, "topic_mismatch"},
		{telemetry.ErrInvalid, "invalid"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "other"
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// flush writes the batch, retrying with backoff until InfluxDB accepts it,
// then acknowledges its messages in the order they arrived.
func (c *Consumer) flush(ctx context.Context, b *pending) error {
	backoff := 500 * time.Millisecond
	for {
		err := c.w.Write(ctx, b.points...)
		if err == nil {
			break
		}
		c.Stats.WriteFailures.Add(1)
		c.log.Warn("write failed, retrying", "points", len(b.points), "in", backoff, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	for _, m := range b.msgs {
		m.Ack()
	}
	c.Stats.Messages.Add(uint64(len(b.msgs)))
	c.Stats.Samples.Add(uint64(len(b.points)))
	c.Stats.Points.Add(uint64(b.values))
	*b = pending{}
	return nil
}
