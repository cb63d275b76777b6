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
	"maps"
	"os"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/atomicfile"
	"github.com/boilerwatch/boilerwatch/gateway/mqttconn"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Writer is where points go (the gap events); it returns once they are
// durable.
type Writer interface {
	Write(ctx context.Context, points ...*write.Point) error
}

// LineWriter is where the consumer writes: InfluxDB line protocol, one
// point a line, timestamps in milliseconds (AppendLines). It returns once
// InfluxDB accepted the lines, or with an error that store.Refused
// recognises when InfluxDB refused them for what they hold.
type LineWriter interface {
	WriteLines(ctx context.Context, lines []byte) error
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
	// Schema decides what gateways may store; nil accepts every valid
	// message as it is (tests of the mapping).
	Schema *Schema
	// DeadLetters keeps what is refused; nil only counts and logs it.
	DeadLetters *DeadLetters
	// Known is the gateway registry: telemetry of a (site, gateway) it
	// does not know is counted and dropped. Nil knows every gateway.
	Known  func(site, gateway string) bool
	Logger *slog.Logger
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
	refused     map[Refusal]uint64
}

// Refusal is what the refused counters are keyed by: a reason and the
// gateway whose message it was ("" where the message named none).
type Refusal struct{ Reason, Site, Gateway string }

// maxRefusalKeys bounds the distinct (reason, site, gateway) counters:
// gateways inventing ids must not grow the collector's memory (or its
// metrics) without end. Past it, new ones are counted under site and
// gateway "other".
const maxRefusalKeys = 2000

// Refused returns the refusal counts by reason and gateway.
func (s *Stats) Refused() map[Refusal]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.refused)
}

// Rejected returns the refusal counts by reason alone.
func (s *Stats) Rejected() map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range s.Refused() {
		out[k.Reason] += v
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

func (s *Stats) refuse(k Refusal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused = map[Refusal]uint64{}
	}
	if _, ok := s.refused[k]; !ok && len(s.refused) >= maxRefusalKeys {
		k.Site, k.Gateway = "other", "other"
	}
	s.refused[k]++
}

// Consumer reads telemetry from the broker.
type Consumer struct {
	o     Options
	w     LineWriter
	log   *slog.Logger
	in    chan mqtt.Message
	held  chan struct{} // a token per message held (window)
	Stats Stats

	busy    [writers]atomic.Int64 // Unix ns each writer took its batch; 0: idle
	gen     atomic.Uint64         // MQTT connection generation
	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup // per-connection subscribe and heartbeat
}

// window bounds the messages the consumer holds: received from the broker
// and not yet acknowledged, whether waiting, being gathered or being
// written. It is the consumer's own in-flight window, whatever the broker
// sends: Mosquitto's max_inflight_messages (1000 in deploy/mosquitto) stops
// it long before, so paho's router does not wait on us; a broker with a
// larger window (or none) is held back by TCP once window messages are
// held, which a backlog drain never notices and an InfluxDB outage turns
// into at most a reconnect (paho misses a PINGRESP), i.e. redelivery,
// since nothing unwritten is acknowledged.
const window = 2000

// batchMessages caps a batch, whatever batch.max_points allows: the broker
// sends its next messages only as we acknowledge, so a batch that took the
// broker's whole in-flight window would leave the other writer idle and the
// broker waiting for the write. Half of Mosquitto's window keeps both
// writers busy, one decoding while the other writes, and the broker sending
// as each batch is acknowledged (a quarter measured no faster: more, smaller
// writes cost InfluxDB, on the same cores, more).
const batchMessages = 500

// New prepares a consumer; Run connects and consumes.
func New(o Options, w LineWriter) *Consumer {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxPoints <= 0 {
		o.MaxPoints = 5000
	}
	if o.Flush <= 0 {
		o.Flush = 200 * time.Millisecond
	}
	return &Consumer{o: o, w: w, log: o.Logger.With("component", "ingest"), in: make(chan mqtt.Message, window), held: make(chan struct{}, window)}
}

// Run consumes until ctx is done.
func (c *Consumer) Run(ctx context.Context) error {
	filter := telemetry.SamplesFilter
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
		// A token per message held: past window, paho's router waits here.
		select {
		case c.held <- struct{}{}:
		case <-ctx.Done():
			return
		}
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
	// 64 KiB: a backlog arrives as a stream of messages; written behind:
	// a batch's acknowledgements leave in a few system calls, not one each.
	if open := mqttconn.WriteBehind(c.o.Broker, 64<<10); open != nil {
		opts.SetCustomOpenConnectionFn(open)
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

// delivery is a message to ingest: from the broker (mqtt.Message) or
// from the dead-letter store (a reingest).
type delivery interface {
	Topic() string
	Payload() []byte
	Duplicate() bool
	Ack()
}

// pending is one batch on its way to InfluxDB.
type pending struct {
	msgs    []delivery           // every message, acknowledged at the end
	decoded []*telemetry.Message // the valid ones, for Observe
	letters map[int]*Letter      // by index in msgs: what of it was refused
	lines   []byte               // the points, in line protocol
	ends    []int                // ends[i]: where point i's line ends in lines
	owner   []sampleRef          // owner[i]: where point i came from
	values  int
	enc     lineEncoder
}

// reset empties b for the next batch, keeping its buffers.
func (b *pending) reset() {
	clear(b.msgs) // what they hold may go
	clear(b.decoded)
	clear(b.owner)
	clear(b.letters)
	b.msgs, b.decoded, b.owner = b.msgs[:0], b.decoded[:0], b.owner[:0]
	b.lines, b.ends, b.values = b.lines[:0], b.ends[:0], 0
}

// line is point i's line protocol, its newline included.
func (b *pending) line(i int) []byte {
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.lines[start:b.ends[i]]
}

// span is the lines of points from to to (excluded).
func (b *pending) span(from, to int) []byte {
	start := 0
	if from > 0 {
		start = b.ends[from-1]
	}
	return b.lines[start:b.ends[to-1]]
}

type sampleRef struct {
	msg    int
	device string
}

// letter is the dead letter of message i, made on first use. Its site and
// gateway come from the topic: a payload that names others is refused.
func (b *pending) letter(i int) *Letter {
	l := b.letters[i]
	if l == nil {
		m := b.msgs[i]
		l = newLetter(m.Topic(), m.Payload(), time.Now())
		l.Site, l.Gateway, _, _ = telemetry.ParseTopic(m.Topic())
		b.letters[i] = l
	}
	return l
}

// writers is how many batches may be on their way at once. They take
// turns at the intake: one gathers the next batch, decoding each message
// as it arrives, while the others write theirs, so that the broker's
// in-flight window is held by decoding for no longer than the messages
// take to arrive, and decoding (the collector's main CPU cost) runs beside
// the writes.
const writers = 2

// A batch is written when it holds MaxPoints (at most batchMessages)
// messages, when its first message has waited Flush, or when a burst of at
// least burstMin messages has stopped arriving for burstIdle: a backlog
// arrives as bursts of the broker's in-flight window, and waiting out
// Flush after each would cap a drain at one window per Flush.
const (
	burstMin  = 64
	burstIdle = 5 * time.Millisecond
)

func (c *Consumer) loop(ctx context.Context) error {
	intake := make(chan struct{}, 1) // held by the writer gathering
	intake <- struct{}{}
	limit := min(c.o.MaxPoints, batchMessages)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			b := pending{letters: map[int]*Letter{}} // its buffers serve batch after batch
			for {
				select {
				case <-ctx.Done():
					return
				case <-intake:
				}
				b.reset()
				ok := c.gather(ctx, &b, limit, timer)
				intake <- struct{}{}
				if !ok {
					// ctx ended: what was gathered is not acknowledged,
					// and the broker sends it again to the next collector.
					return
				}
				c.busy[i].Store(time.Now().UnixNano())
				err := c.flush(ctx, &b)
				c.busy[i].Store(0)
				for range b.msgs {
					<-c.held
				}
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// gather decodes messages into b as they arrive until the batch is due
// (see burstMin). It returns false if ctx ended first.
func (c *Consumer) gather(ctx context.Context, b *pending, limit int, timer *time.Timer) bool {
	var first, last time.Time
	for len(b.msgs) < limit {
		var m mqtt.Message
		select {
		case m = <-c.in: // what is already waiting, without a timer
		default:
			wake := time.Hour
			if n := len(b.msgs); n > 0 {
				due := first.Add(c.o.Flush)
				if n >= burstMin {
					due = minTime(due, last.Add(burstIdle))
				}
				if wake = time.Until(due); wake <= 0 {
					return true
				}
			}
			timer.Reset(wake)
			select {
			case <-ctx.Done():
				return false
			case m = <-c.in:
			case <-timer.C:
				continue
			}
		}
		last = time.Now()
		if len(b.msgs) == 0 {
			first = last
		}
		c.add(b, m)
	}
	return true
}

// Stalled is how long the oldest batch being written has been at it: a
// batch that InfluxDB keeps refusing to take (it is down, or a password
// changed) holds every message behind it, which /readyz reports.
func (c *Consumer) Stalled() time.Duration {
	var oldest time.Duration
	for i := range c.busy {
		if t := c.busy[i].Load(); t != 0 {
			oldest = max(oldest, time.Since(time.Unix(0, t)))
		}
	}
	return oldest
}

// process decodes a batch, writes its points (MaxPoints a write), stores
// what was refused in the dead-letter store and then acknowledges every
// message.
// It returns how many messages had something refused.
func process[D delivery](ctx context.Context, c *Consumer, msgs []D) (int, error) {
	b := pending{letters: map[int]*Letter{}}
	for _, m := range msgs {
		c.add(&b, m)
	}
	if len(b.msgs) == 0 {
		return 0, nil
	}
	err := c.flush(ctx, &b) // adds the letters of what InfluxDB refused
	return len(b.letters), err
}

// reingested is a dead letter's message on its second way through.
type reingested struct{ l *Letter }

func (r reingested) Topic() string   { return r.l.Topic }
func (r reingested) Payload() []byte { return r.l.Payload() }
func (r reingested) Duplicate() bool { return false }
func (r reingested) Ack()            {}

// Reingest takes every letter out of the dead-letter store and runs its
// message through ingest again, as if it had just arrived: once the cause
// is fixed (a class declared, a profile added, a clock corrected, a field
// type repaired in InfluxDB) it is stored; what is refused again goes back
// into the store with its new reasons. It returns how many letters it took
// and how many went back.
func (c *Consumer) Reingest(ctx context.Context) (taken, again int, err error) {
	dl := c.o.DeadLetters
	if dl == nil {
		return 0, 0, errors.New("reingest: no dead-letter store")
	}
	claimed, letters, err := dl.take()
	if err != nil {
		return 0, 0, err
	}
	for len(letters) > 0 {
		n := min(len(letters), 500)
		batch := make([]reingested, n)
		for i, l := range letters[:n] {
			batch[i] = reingested{l}
		}
		refused, err := process(ctx, c, batch)
		if err != nil {
			return taken, again, err
		}
		taken, again, letters = taken+n, again+refused, letters[n:]
	}
	for _, f := range claimed {
		if err := os.Remove(f); err != nil {
			return taken, again, fmt.Errorf("reingest: %w", err)
		}
	}
	return taken, again, atomicfile.SyncDir(dl.Dir())
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// write writes the points from to to of b, retrying with backoff until
// InfluxDB accepts them or refuses them for what they hold
// (store.Refused), which it returns at once; otherwise only ctx ends it
// with an error.
func (c *Consumer) write(ctx context.Context, b *pending, from, to int) error {
	backoff := 500 * time.Millisecond
	for {
		err := c.w.WriteLines(ctx, b.span(from, to))
		if err == nil || store.Refused(err) {
			return err
		}
		c.Stats.WriteFailures.Add(1)
		c.log.Warn("write failed, retrying", "points", to-from, "in", backoff, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// refusedPoint is a point InfluxDB would not take, with its answer.
type refusedPoint struct {
	at  int // index in the batch's points
	err error
}

// writeSplit writes the points from to to of b; when InfluxDB refuses a
// write for its content it writes each half again, down to single points,
// so that one bad point costs only itself. Rewriting a point InfluxDB
// already took (1.8 keeps the good points of a partial write) changes
// nothing. It returns the points refused on their own; only ctx ends it
// with an error.
func (c *Consumer) writeSplit(ctx context.Context, b *pending, from, to int) ([]refusedPoint, error) {
	err := c.write(ctx, b, from, to)
	if err == nil || !store.Refused(err) {
		return nil, err
	}
	if to-from == 1 {
		return []refusedPoint{{from, err}}, nil
	}
	h := from + (to-from)/2
	r1, err := c.writeSplit(ctx, b, from, h)
	if err != nil {
		return nil, err
	}
	r2, err := c.writeSplit(ctx, b, h, to)
	return append(r1, r2...), err
}

// add validates one message into the batch. What cannot be stored (an
// invalid payload, an unknown gateway, what the schema refuses) becomes a
// letter for the dead-letter store; the message is acknowledged with the
// batch all the same, since redelivering it cannot make it valid.
func (c *Consumer) add(b *pending, m delivery) {
	i := len(b.msgs)
	b.msgs = append(b.msgs, m)
	refuse := func(probs ...Problem) { b.letter(i).Problems = append(b.letter(i).Problems, probs...) }
	msg, err := c.decode(m.Topic(), m.Payload())
	if err != nil {
		refuse(Problem{Reason: rejectReason(err), Detail: truncate(err.Error(), 300)})
		return
	}
	if c.o.Known != nil && !c.o.Known(msg.Site, msg.Gateway) {
		refuse(Problem{Reason: ReasonUnknownGateway,
			Detail: fmt.Sprintf("gateway %s/%s is not in the collector's gateway registry", msg.Site, msg.Gateway)})
		return
	}
	if m.Duplicate() {
		c.Stats.Redelivered.Add(1)
	}
	if c.o.Schema != nil {
		if probs := c.o.Schema.Check(msg); len(probs) > 0 {
			refuse(probs...)
		}
	}
	b.decoded = append(b.decoded, msg)
	for j := range msg.Samples {
		s := &msg.Samples[j]
		b.values += len(s.Values)
		b.owner = append(b.owner, sampleRef{i, s.Device})
		b.lines = b.enc.appendSample(b.lines, msg, s)
		b.ends = append(b.ends, len(b.lines))
	}
}

// Refusal reasons of the consumer (the schema's are in schema.go).
const (
	ReasonUnknownGateway = "unknown_gateway"
	ReasonInfluxRefused  = "influxdb_refused"
)

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

// flush writes the batch, retrying with backoff while InfluxDB is away,
// stores what was refused in the dead-letter store, then acknowledges its
// messages in the order they arrived. Meanwhile the consumer takes no new
// messages: the broker keeps them.
func (c *Consumer) flush(ctx context.Context, b *pending) error {
	// A point type learned from this batch is on disk before InfluxDB
	// holds a value of it.
	if c.o.Schema != nil {
		if err := c.retry(ctx, "persist learned field types", c.o.Schema.Persist); err != nil {
			return err
		}
	}
	var refused []refusedPoint
	for at := 0; at < len(b.ends); at += c.o.MaxPoints {
		r, err := c.writeSplit(ctx, b, at, min(at+c.o.MaxPoints, len(b.ends)))
		if err != nil {
			return err
		}
		refused = append(refused, r...)
	}
	for _, r := range refused {
		ref := b.owner[r.at]
		l := b.letter(ref.msg)
		line := b.line(r.at)
		l.Problems = append(l.Problems, Problem{Reason: ReasonInfluxRefused, Device: ref.device,
			Detail: truncate(r.err.Error(), 500) + "; point: " + truncate(string(line[:len(line)-1]), 500)})
	}
	letters := make([]*Letter, 0, len(b.letters))
	for i := range b.msgs {
		if l := b.letters[i]; l != nil {
			letters = append(letters, l)
		}
	}
	if c.o.DeadLetters != nil {
		if err := c.retry(ctx, "store dead letters", func() error { return c.o.DeadLetters.Append(letters) }); err != nil {
			return err
		}
	}
	for _, l := range letters {
		for _, p := range l.Problems {
			c.Stats.refuse(Refusal{p.Reason, l.Site, l.Gateway})
		}
		c.log.Warn("refused", "topic", l.Topic, "problems", len(l.Problems), "reason", l.Problems[0].Reason,
			"detail", truncate(l.Problems[0].Detail, 300), "bytes", len(l.Payload()))
	}
	if c.o.Observe != nil {
		for _, m := range b.decoded {
			c.o.Observe(m)
		}
	}
	for _, m := range b.msgs {
		m.Ack()
	}
	c.Stats.Messages.Add(uint64(len(b.decoded)))
	c.Stats.Samples.Add(uint64(len(b.ends) - len(refused)))
	c.Stats.Points.Add(uint64(b.values))
	return nil
}

// retry runs f until it succeeds or ctx ends, with backoff: the disk may
// be full for a while, and nothing is acknowledged until f succeeds.
func (c *Consumer) retry(ctx context.Context, what string, f func() error) error {
	for backoff := 500 * time.Millisecond; ; backoff = min(2*backoff, maxBackoff) {
		err := f()
		if err == nil {
			return nil
		}
		c.log.Error(what+" failed, retrying", "in", backoff, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}
