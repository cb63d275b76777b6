package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Options configure a Membership.
type Options struct {
	Broker, ClientID   string
	Username, Password string
	TLS                *tls.Config
	// ID names this collector among its peers (telemetry.ValidPresenceID).
	ID string
	// Keepalive is the MQTT keepalive of the presence connection: the
	// broker publishes the will (this collector gone) at most 1.5 ×
	// Keepalive after the collector stopped answering, at once when its
	// TCP connection closes (a killed process).
	Keepalive time.Duration
	Logger    *slog.Logger
	// Now is the wall clock; nil is time.Now.
	Now func() time.Time
}

// Membership follows the collectors' presence messages and keeps this
// collector's own.
type Membership struct {
	o        Options
	log      *slog.Logger
	instance int64
	client   mqtt.Client

	mu        sync.Mutex
	members   map[string]int64 // id → instance
	connected bool
	changed   time.Time
}

// Join connects in the background (and reconnects), announces this
// collector and follows the others until ctx is done.
func Join(ctx context.Context, o Options) *Membership {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Membership{o: o, log: o.Logger.With("component", "cluster", "collector", o.ID), instance: o.Now().UnixMilli(),
		members: map[string]int64{}, changed: o.Now()}
	topic := telemetry.PresenceTopic(o.ID)
	opts := mqtt.NewClientOptions().AddBroker(o.Broker).SetClientID(o.ClientID).
		SetUsername(o.Username).SetPassword(o.Password).SetTLSConfig(o.TLS).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).SetMaxReconnectInterval(5*time.Second).
		SetKeepAlive(o.Keepalive).SetPingTimeout(o.Keepalive/2).
		// An empty retained will clears this collector's presence.
		SetBinaryWill(topic, nil, 1, true)
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		m.log.Info("cluster: connected, announcing presence", "broker", o.Broker)
		c.Subscribe(telemetry.PresenceFilter, 1, m.receive)
		m.announce(c)
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		m.log.Warn("cluster: connection lost; computing nothing until back", "error", err)
		m.mu.Lock()
		// Unknown who is live now; and the broker will publish this
		// collector's will, so the others take its share over.
		m.connected, m.members, m.changed = false, map[string]int64{}, m.o.Now()
		m.mu.Unlock()
	})
	m.client = mqtt.NewClient(opts)
	m.client.Connect()
	context.AfterFunc(ctx, m.leave)
	return m
}

func (m *Membership) announce(c mqtt.Client) {
	p, _ := json.Marshal(telemetry.Presence{Collector: m.o.ID, Instance: m.instance, TS: m.o.Now().UnixMilli()})
	c.Publish(telemetry.PresenceTopic(m.o.ID), 1, true, p)
}

func (m *Membership) receive(c mqtt.Client, msg mqtt.Message) {
	id, p, err := telemetry.ParsePresence(msg.Topic(), msg.Payload())
	if err != nil {
		m.log.Warn("cluster: presence ignored", "topic", msg.Topic(), "error", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == m.o.ID && (p == nil || p.Instance != m.instance) {
		// A previous run's presence, or a will (of a previous run, or of
		// this one when the broker gave up on it): this run is alive, but
		// its peers may have taken its share, so it owns nothing until its
		// own presence comes back. (Announced from another goroutine: the
		// client delivers messages in order, one handler at a time.)
		m.connected = true
		if _, ok := m.members[id]; ok {
			delete(m.members, id)
			m.changed = m.o.Now()
		}
		go m.announce(c)
		return
	}
	inst, was := m.members[id]
	switch {
	case p == nil && was:
		delete(m.members, id)
		m.log.Info("cluster: collector gone", "peer", id)
	case p != nil && (!was || inst != p.Instance):
		m.members[id] = p.Instance
		m.log.Info("cluster: collector present", "peer", id)
	default:
		return
	}
	if id == m.o.ID {
		m.connected = true
	}
	m.changed = m.o.Now()
}

// View is the membership now.
func (m *Membership) View() View {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, self := m.members[m.o.ID]
	return View{Self: m.o.ID, Members: sorted(m.members), Ready: m.connected && self, Changed: m.changed}
}

// leave clears this collector's presence and disconnects: its peers take
// its share over without waiting for the keepalive.
func (m *Membership) leave() {
	if m.client.IsConnectionOpen() {
		tok := m.client.Publish(telemetry.PresenceTopic(m.o.ID), 1, true, []byte{})
		tok.WaitTimeout(2 * time.Second)
	}
	m.client.Disconnect(500)
}
