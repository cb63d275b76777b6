// Package ingest consumes telemetry from MQTT, validates it and writes it to
// InfluxDB, acknowledging each message only after its points were written.
package ingest

import (
	"context"
	"crypto/tls"
	"encoding/json"
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
	// TLS, when set, is used for ssl:// brokers (config.MQTT.TLS).
	TLS *tls.Config
	// ShareGroup, when set, subscribes with $share/<group>/ so that several
	// collectors split the stream.
	ShareGroup string
	// MaxPoints and Flush bound a batch: it is written when either is reached.
	MaxPoints int
	Flush     time.Duration
	// Observe, when set, is called with each message once its points are
	// written (gap detection: Gaps.Observe).
	Observe func(*telemetry.Message)
	Logger  *slog.Logger
}

// Stats are the consumer's counters.
type Stats struct {
	Messages      atomic.Uint64 // accepted messages
	Samples       atomic.Uint64 // samples written
	Points        atomic.Uint64 // values written
	WriteFailures atomic.Uint64
	// Redelivered counts messages the broker sent again (MQTT DUP flag):
	// they were in flight when a connection or a collector went away.
	Redelivered atomic.Uint64
	mu          sync.Mutex
	rejected    map[string]uint64
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

	gen     atomic.Uint64 // MQTT connection generation
	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup // per-connection subscribe and heartbeat
}

// inflight bounds messages received but not yet written. The broker's own
// window (Mosquitto's max_inflight_messages, 1000 in deploy/mosquitto) stops
// it sending more long before: this buffer holds that window twice over
// (a reconnect redelivers what the old connection had in flight), so paho's
// router never waits on us. Were it to wait, paho would stop reading the
// socket, miss PINGRESP and drop the connection — which only redelivers,
// since nothing unwritten is acknowledged, but costs a reconnect.
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
	handler := func(_ mqtt.Client, m mqtt.Message) {
		select {
		case c.in <- m:
		case <-ctx.Done():
		}
	}
	// The broker sends what it kept for the session right after CONNACK,
	// before our SUBSCRIBE is even sent; paho drops, unacknowledged, a
	// message for which it has no handler yet, and it would sit in the
	// session until the next reconnect. The default handler takes those.
	opts.SetDefaultPublishHandler(handler)
	opts.SetOnConnectHandler(func(cl mqtt.Client) {
		c.log.Info("mqtt connected", "broker", c.o.Broker, "filter", filter)
		gen := c.gen.Add(1)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.stopped {
			return
		}
		// paho must not block in this handler: subscribe and beat in a
		// goroutine of this connection (gen), ended with it.
		c.wg.Go(func() { c.subscribeAndBeat(ctx, cl, gen, filter, handler) })
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		c.gen.Add(1) // ends the heartbeat of the lost connection
		c.log.Warn("mqtt connection lost", "broker", c.o.Broker, "error", err)
	})
	if c.o.TLS != nil {
		opts.SetTLSConfig(c.o.TLS)
	}
	client := mqtt.NewClient(opts)
	client.Connect()
	defer func() {
		c.mu.Lock()
		c.stopped = true
		c.mu.Unlock()
		c.wg.Wait()
	}()
	defer client.Disconnect(500)
	return c.loop(ctx)
}

// subscribeAndBeat subscribes (again, after every reconnect: Mosquitto 2.0
// does not restore shared subscriptions after a restart) and then
// publishes the heartbeat that tells gateways a collector is listening,
// until the connection gen ends.
func (c *Consumer) subscribeAndBeat(ctx context.Context, cl mqtt.Client, gen uint64, filter string, handler mqtt.MessageHandler) {
	current := func() bool { return ctx.Err() == nil && c.gen.Load() == gen && cl.IsConnectionOpen() }
	for backoff := time.Second; ; backoff = min(2*backoff, 10*time.Second) {
		if !current() {
			return
		}
		tok := cl.Subscribe(filter, 1, handler)
		if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
			c.log.Info("subscribed", "filter", filter)
			break
		}
		c.log.Error("subscribe failed, retrying", "filter", filter, "error", tok.Error(), "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
	t := time.NewTicker(telemetry.HeartbeatEvery)
	defer t.Stop()
	for {
		if !current() {
			return
		}
		beat, _ := json.Marshal(telemetry.Heartbeat{Collector: c.o.ClientID, TS: time.Now().UnixMilli()})
		cl.Publish(telemetry.HeartbeatTopic, 0, false, beat)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type pending struct {
	msgs    []mqtt.Message
	decoded []*telemetry.Message
	points  []*write.Point
	values  int
}

// writers is how many batches may be decoded and written at once: while
// one is on its way to InfluxDB the next is gathered, so the broker's
// in-flight window keeps moving during a backlog drain, and decoding (the
// collector's main CPU cost) runs on more than one core.
const writers = 2

// A batch goes to a writer when it holds MaxPoints messages, when its first
// message has waited Flush, or when a burst of at least burstMin messages
// has stopped arriving for burstIdle: a backlog arrives as bursts of the
// broker's in-flight window, and waiting out Flush after each would cap a
// drain at one window per Flush.
const (
	burstMin  = 64
	burstIdle = 5 * time.Millisecond
)

func (c *Consumer) loop(ctx context.Context) error {
	batches := make(chan []mqtt.Message)
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for msgs := range batches {
				if c.process(ctx, msgs) != nil {
					// ctx ended: what is left is not acknowledged, and
					// the broker sends it again to the next collector.
					for range batches {
					}
					return
				}
			}
		})
	}
	defer func() {
		close(batches)
		wg.Wait()
	}()
	var batch []mqtt.Message
	var first, last time.Time
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		in := c.in
		if len(batch) >= c.o.MaxPoints {
			in = nil // full: wait for a writer
		}
		var out chan<- []mqtt.Message
		wake := time.Hour
		if n := len(batch); n > 0 {
			now := time.Now()
			due := first.Add(c.o.Flush)
			if n >= burstMin {
				due = minTime(due, last.Add(burstIdle))
			}
			if n >= c.o.MaxPoints || !now.Before(due) {
				out = batches
			} else {
				wake = due.Sub(now)
			}
		}
		timer.Reset(wake)
		select {
		case <-ctx.Done():
			return nil
		case m := <-in:
			last = time.Now()
			if len(batch) == 0 {
				first = last
			}
			batch = append(batch, m)
		case out <- batch:
			batch = nil
		case <-timer.C:
		}
	}
}

// process decodes a batch, writes its points (MaxPoints a write) and then
// acknowledges its messages.
func (c *Consumer) process(ctx context.Context, msgs []mqtt.Message) error {
	var b pending
	for _, m := range msgs {
		c.add(&b, m)
	}
	if len(b.msgs) == 0 {
		return nil
	}
	return c.flush(ctx, &b)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// write writes points, retrying with backoff until InfluxDB accepts them;
// only ctx ends it with an error.
func (c *Consumer) write(ctx context.Context, pts []*write.Point) error {
	backoff := 500 * time.Millisecond
	for {
		err := c.w.Write(ctx, pts...)
		if err == nil {
			return nil
		}
		c.Stats.WriteFailures.Add(1)
		c.log.Warn("write failed, retrying", "points", len(pts), "in", backoff, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
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
	if m.Duplicate() {
		c.Stats.Redelivered.Add(1)
	}
	b.msgs = append(b.msgs, m)
	b.decoded = append(b.decoded, msg)
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

// maxBackoff caps the wait between write attempts while InfluxDB is down:
// short enough that the backlog starts moving within seconds of its return.
const maxBackoff = 5 * time.Second

// flush writes the batch, retrying with backoff until InfluxDB accepts it,
// then acknowledges its messages in the order they arrived. Meanwhile the
// consumer takes no new messages: the broker keeps them.
func (c *Consumer) flush(ctx context.Context, b *pending) error {
	for pts := b.points; len(pts) > 0; {
		n := min(len(pts), c.o.MaxPoints)
		if err := c.write(ctx, pts[:n]); err != nil {
			return err
		}
		pts = pts[n:]
	}
	if c.o.Observe != nil {
		for _, m := range b.decoded {
			c.o.Observe(m)
		}
	}
	for _, m := range b.msgs {
		m.Ack()
	}
	c.Stats.Messages.Add(uint64(len(b.msgs)))
	c.Stats.Samples.Add(uint64(len(b.points)))
	c.Stats.Points.Add(uint64(b.values))
	return nil
}
