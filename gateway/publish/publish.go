// Package publish connects a gateway to its MQTT broker and forwards the
// disk queue's records to it: live records as they are polled and, after an
// outage, the backlog marked historical, each removed from the queue only
// after the broker's PUBACK.
package publish

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/gateway/mqttconn"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Options configure the broker connection and the gateway's identity.
type Options struct {
	Broker, ClientID   string
	Username, Password string
	KeepAlive          time.Duration
	Site, Gateway      string
	Boot               string
	Version            string
	ConfigVersion      string
	// ConfigApplied is when ConfigVersion was applied (the status's
	// config_applied); zero leaves it out until a pushed config applies.
	ConfigApplied time.Time
	// LastSeq, Devices and Queue fill the status message; each may be nil.
	LastSeq func() uint64
	Devices func() map[string]telemetry.DeviceState
	Queue   func() *telemetry.QueueStatus
	// StatusEvery republishes the retained status, so that queue counters
	// stay current; default one minute.
	StatusEvery time.Duration
	// WaitForCollector forwards telemetry only while a collector's
	// heartbeat is heard (telemetry.HeartbeatTopic); otherwise it stays in
	// the queue on disk.
	WaitForCollector bool
	// TLS, when set, secures ssl:// and tls:// brokers (conf.ClientTLS).
	TLS *tls.Config
	// OnConnect, when set, runs on every new connection before it is used;
	// the gateway subscribes to its config topic there. An error drops the
	// connection and it is retried like a failed connect.
	OnConnect func(*Link) error
	Logger    *slog.Logger
	// Started is when the process started, for the status's uptime_s;
	// zero leaves it out.
	Started time.Time
	// Clock reports whether the system clock is synchronised
	// (telemetry.ClockSynchronised...), since every sample's timestamp
	// depends on it; nil leaves it out.
	Clock func() string
}

// Publisher keeps one MQTT connection at a time to the broker.
//
// Each connection is a new paho client with auto-reconnect off. paho's own
// reconnect resends in-flight publishes from its memory store and, doing so,
// completes the tokens of the first attempt as if acknowledged — the queue
// would then delete records the broker may never have received. With a
// client per connection a lost connection fails every pending token
// instead, and the records stay queued for the next connection.
type Publisher struct {
	o   Options
	log *slog.Logger
	// changed asks the connected link to publish the status now (a device
	// changed state); one pending request is enough.
	changed chan struct{}
	// connected is true while a link is up, for the gateway's /readyz.
	connected atomic.Bool
	// configVersion replaces o.ConfigVersion and o.ConfigApplied once a
	// pushed config is applied.
	configVersion atomic.Pointer[appliedConfig]
}

// appliedConfig is the config version in force and when it was applied.
type appliedConfig struct {
	version string
	at      time.Time
}

// SetConfigVersion sets the config version the status reports, applied
// now, and publishes the status.
func (p *Publisher) SetConfigVersion(v string) {
	p.configVersion.Store(&appliedConfig{v, time.Now()})
	p.StatusChanged()
}

func (p *Publisher) configVersionNow() appliedConfig {
	if v := p.configVersion.Load(); v != nil {
		return *v
	}
	return appliedConfig{p.o.ConfigVersion, p.o.ConfigApplied}
}

// Subscribe subscribes on this connection at the given QoS. h runs on the
// client's receive goroutine, so it must hand the payload on, not work on
// it: blocking there would delay the PUBACKs of telemetry. retained is true
// for a retained message the broker sends because of this subscription.
func (l *Link) Subscribe(topic string, qos byte, h func(payload []byte, retained bool)) error {
	tok := l.client.Subscribe(topic, qos, func(_ mqtt.Client, m mqtt.Message) { h(m.Payload(), m.Retained()) })
	if !tok.WaitTimeout(10 * time.Second) {
		return fmt.Errorf("subscribe %s: %w", topic, context.DeadlineExceeded)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("subscribe %s: %w", topic, err)
	}
	return nil
}

// PublishOn sends payload to another topic on this connection.
func (l *Link) PublishOn(topic string, qos byte, retained bool, payload []byte) Completion {
	return l.client.Publish(topic, qos, retained, payload)
}

// New prepares a publisher; Run connects.
func New(o Options) *Publisher {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.StatusEvery <= 0 {
		o.StatusEvery = time.Minute
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 30 * time.Second
	}
	return &Publisher{o: o, log: o.Logger.With("broker", o.Broker), changed: make(chan struct{}, 1)}
}

// StatusChanged asks for the status to be published now, e.g. when a device
// changed state. It never blocks: requests made while one is pending, or
// while disconnected, merge into it (the birth on connect carries the state).
func (p *Publisher) StatusChanged() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// Connected reports whether a broker connection is up.
func (p *Publisher) Connected() bool { return p.connected.Load() }

// Link is one established MQTT connection. It ends when the connection is
// lost or Close is called; a new Link follows.
type Link struct {
	p      *Publisher
	client mqtt.Client
	topic  string

	once  sync.Once
	lost  chan struct{}
	err   error
	heard atomic.Int64 // Unix ns of the last collector heartbeat
}

// Listening reports whether a collector is known to be subscribed: its
// heartbeat arrived within three heartbeat periods (always true unless
// WaitForCollector is set).
func (l *Link) Listening() bool {
	if !l.p.o.WaitForCollector {
		return true
	}
	return time.Since(time.Unix(0, l.heard.Load())) < 3*telemetry.HeartbeatEvery
}

// Publish sends a telemetry payload at QoS 1. The token completes on the
// broker's PUBACK, or with an error when the connection is lost first.
func (l *Link) Publish(payload []byte) Completion {
	return l.client.Publish(l.topic, 1, false, payload)
}

// Lost is closed when the connection has ended.
func (l *Link) Lost() <-chan struct{} { return l.lost }

// Close ends the connection, e.g. when a PUBACK is overdue.
func (l *Link) Close() {
	l.markLost(errors.New("closed by the gateway"))
	l.client.Disconnect(0)
}

func (l *Link) markLost(err error) {
	l.once.Do(func() {
		l.err = err
		close(l.lost)
	})
}

// Run connects, hands each established link to links, publishes the
// retained status (birth on connect, then every StatusEvery) and reconnects
// with backoff, until ctx ends; then it publishes the offline status and
// disconnects.
func (p *Publisher) Run(ctx context.Context, links chan<- Sender) {
	const minBackoff, maxBackoff = time.Second, 30 * time.Second
	backoff := minBackoff
	for {
		l, err := p.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// Jitter keeps a hundred gateways from reconnecting in step
			// after a broker restart.
			wait := backoff/2 + rand.N(backoff/2+1)
			p.log.Warn("mqtt connect failed", "error", err, "retry_in", wait.Round(time.Millisecond))
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		p.log.Info("mqtt connected")
		// Drop a request from before the connection: the birth is current.
		select {
		case <-p.changed:
		default:
		}
		p.publishStatus(l, "online")
		select {
		case links <- l:
		case <-ctx.Done():
			p.shutdown(l)
			return
		}
		p.connected.Store(true)
		ok := p.serve(ctx, l)
		p.connected.Store(false)
		if !ok {
			return
		}
		p.log.Warn("mqtt connection lost", "error", l.err)
	}
}

// serve republishes the status until the link ends; false means ctx ended.
func (p *Publisher) serve(ctx context.Context, l *Link) bool {
	t := time.NewTicker(p.o.StatusEvery)
	defer t.Stop()
	for {
		select {
		case <-l.Lost():
			l.client.Disconnect(0)
			return true
		case <-t.C:
			p.publishStatus(l, "online")
		case <-p.changed:
			p.publishStatus(l, "online")
		case <-ctx.Done():
			p.shutdown(l)
			return false
		}
	}
}

func (p *Publisher) shutdown(l *Link) {
	select {
	case <-l.Lost():
	default:
		p.publishStatus(l, "offline")
	}
	l.markLost(errors.New("gateway stopping"))
	l.client.Disconnect(1000)
}

func (p *Publisher) connect(ctx context.Context) (*Link, error) {
	l := &Link{p: p, topic: telemetry.SamplesTopic(p.o.Site, p.o.Gateway), lost: make(chan struct{})}
	will, _ := json.Marshal(telemetry.Status{V: telemetry.Version, Gateway: p.o.Gateway, State: "offline", Boot: p.o.Boot})
	opts := mqtt.NewClientOptions().
		AddBroker(p.o.Broker).
		SetClientID(p.o.ClientID).
		SetUsername(p.o.Username).
		SetPassword(p.o.Password).
		SetKeepAlive(p.o.KeepAlive).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(10*time.Second).
		SetWriteTimeout(10*time.Second).
		SetBinaryWill(telemetry.StatusTopic(p.o.Site, p.o.Gateway), will, 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { l.markLost(err) })
	if p.o.TLS != nil {
		opts.SetTLSConfig(p.o.TLS)
	}
	// One read per PUBACK instead of about four. 4 KiB: the broker sends
	// acknowledgements and small messages; a larger one is read directly.
	if open := mqttconn.Buffered(p.o.Broker, 4<<10); open != nil {
		opts.SetCustomOpenConnectionFn(open)
	}
	l.client = mqtt.NewClient(opts)
	tok := l.client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		l.client.Disconnect(0)
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		l.client.Disconnect(0)
		return nil, fmt.Errorf("connect %s: %w", p.o.Broker, err)
	}
	if p.o.WaitForCollector {
		sub := l.client.Subscribe(telemetry.HeartbeatTopic, 0, func(mqtt.Client, mqtt.Message) {
			l.heard.Store(time.Now().UnixNano())
		})
		if !sub.WaitTimeout(10*time.Second) || sub.Error() != nil {
			l.client.Disconnect(0)
			return nil, fmt.Errorf("subscribe %s: %v", telemetry.HeartbeatTopic, sub.Error())
		}
	}
	if p.o.OnConnect != nil {
		if err := p.o.OnConnect(l); err != nil {
			l.client.Disconnect(0)
			return nil, err
		}
	}
	return l, nil
}

// publishStatus sends the retained status and waits briefly for its PUBACK.
func (p *Publisher) publishStatus(l *Link, state string) {
	st := p.Status(state)
	payload, _ := json.Marshal(st)
	tok := l.client.Publish(telemetry.StatusTopic(p.o.Site, p.o.Gateway), 1, true, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		p.log.Warn("status not published", "state", state, "error", tok.Error())
	}
}

// Status is the status message as published now.
func (p *Publisher) Status(state string) telemetry.Status {
	cv := p.configVersionNow()
	st := telemetry.Status{
		V: telemetry.Version, Gateway: p.o.Gateway, State: state, Version: p.o.Version,
		ConfigVersion: cv.version, Boot: p.o.Boot, TS: time.Now().UnixMilli(),
	}
	if !cv.at.IsZero() {
		st.ConfigApplied = cv.at.UnixMilli()
	}
	if p.o.LastSeq != nil {
		st.Seq = p.o.LastSeq()
	}
	if p.o.Devices != nil {
		st.Devices = p.o.Devices()
	}
	if p.o.Queue != nil {
		st.Queue = p.o.Queue()
	}
	if !p.o.Started.IsZero() {
		st.UptimeS = int64(time.Since(p.o.Started) / time.Second)
	}
	if p.o.Clock != nil {
		st.Clock = p.o.Clock()
	}
	return st
}
