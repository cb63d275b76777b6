package console

import (
	"bytes"
	"container/list"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// statusNoteEvery is how often one kind of status warning is logged.
const statusNoteEvery = time.Minute

// statusNote counts one kind of status warning between log lines.
type statusNote struct {
	at time.Time
	n  int
}

// noteStatus counts a warning of kind and reports whether to log it now,
// with how many there were since the last line: anyone able to publish a
// status could otherwise flood the log as well.
func (c *Console) noteStatus(kind string) (bool, int) {
	c.notesMu.Lock()
	defer c.notesMu.Unlock()
	if c.notes == nil {
		c.notes = map[string]*statusNote{}
	}
	n := c.notes[kind]
	if n == nil {
		n = &statusNote{}
		c.notes[kind] = n
	}
	n.n++
	now := c.now()
	if !n.at.IsZero() && now.Sub(n.at) < statusNoteEvery {
		return false, 0
	}
	count := n.n
	n.at, n.n = now, 0
	return true, count
}

// MQTTOptions locate the broker the gateways publish their status to.
type MQTTOptions struct {
	Broker, ClientID   string
	Username, Password string
	TLS                *tls.Config // for ssl:// brokers; nil for tcp://
}

// GatewayStatus is the latest retained status of one gateway.
type GatewayStatus struct {
	Site     string
	Received time.Time
	// Heard is when anything was last heard from the gateway: a live
	// status or telemetry (Console.Observe); a retained status counts from
	// the time it was sent (fleet.go).
	Heard time.Time
	// ClockOffset is the gateway's ts minus the collector's clock when the
	// last live status arrived (network delay included); nil until one.
	ClockOffset *time.Duration
	telemetry.Status
}

// statusBook keeps the latest status per gateway. It is filled by the MQTT
// watcher and read by the API handlers. Whoever may publish a retained
// status could otherwise grow it without end (and every invented site
// in it costs the overview): with a gateway registry it keeps registered
// gateways only; without, at most max, dropping the gateway heard from
// least recently.
type statusBook struct {
	mu sync.Mutex
	// registered is the gateway registry; nil: none.
	registered func(site, gateway string) bool
	// max bounds the book without a registry (<= 0: DefaultMaxGateways).
	max int
	m   map[string]*list.Element // site/gateway → GatewayStatus in order
	// order runs from the gateway heard from least recently to the most
	// recent one.
	order list.List
}

// putResult says what put did with a status.
type putResult int

const (
	putKept         putResult = iota
	putUnregistered           // not in the registry: ignored
	putEvicted                // kept, and the oldest other status dropped
)

func (b *statusBook) put(site string, st telemetry.Status, at time.Time) putResult {
	if b.registered != nil && !b.registered(site, st.Gateway) {
		return putUnregistered
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]*list.Element{}
	}
	key := site + "/" + st.Gateway
	gs := GatewayStatus{Site: site, Received: at, Status: st}
	if e, ok := b.m[key]; ok {
		prev := e.Value.(GatewayStatus)
		gs.Heard, gs.ClockOffset = prev.Heard, prev.ClockOffset
		e.Value = gs
		b.order.MoveToBack(e)
		return putKept
	}
	res := putKept
	limit := b.max
	if limit <= 0 {
		limit = config.DefaultMaxGateways
	}
	// A registry bounds the book by itself, and must not lose a
	// registered gateway to a cap.
	for b.registered == nil && len(b.m) >= limit {
		old := b.order.Front()
		o := old.Value.(GatewayStatus)
		delete(b.m, o.Site+"/"+o.Gateway)
		b.order.Remove(old)
		res = putEvicted
	}
	b.m[key] = b.order.PushBack(gs)
	return res
}

func (b *statusBook) remove(site, gateway string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := site + "/" + gateway
	if e, ok := b.m[key]; ok {
		b.order.Remove(e)
		delete(b.m, key)
	}
}

func (b *statusBook) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// list returns the statuses of a site (all sites when site is empty),
// sorted by gateway.
func (b *statusBook) list(site string) []GatewayStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []GatewayStatus
	for _, e := range b.m {
		s := e.Value.(GatewayStatus)
		if site == "" || s.Site == site {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Site != out[j].Site {
			return out[i].Site < out[j].Site
		}
		return out[i].Gateway < out[j].Gateway
	})
	return out
}

// decodeStatus checks a status payload strictly (the wire format rejects
// unknown fields) and against its topic.
func decodeStatus(topic string, payload []byte) (site string, st telemetry.Status, err error) {
	site, gateway, kind, err := telemetry.ParseTopic(topic)
	if err != nil {
		return "", st, err
	}
	if kind != "status" {
		return "", st, fmt.Errorf("topic %q: not a status topic", topic)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return "", st, fmt.Errorf("status on %s: %w", topic, err)
	}
	if st.V != telemetry.Version {
		return "", st, fmt.Errorf("status on %s: version %d, want %d", topic, st.V, telemetry.Version)
	}
	if st.Gateway != gateway || !telemetry.ValidName(site) {
		return "", st, fmt.Errorf("status on %s: gateway %q does not match the topic", topic, st.Gateway)
	}
	if st.State != "online" && st.State != "offline" {
		return "", st, fmt.Errorf("status on %s: state %q, want online or offline", topic, st.State)
	}
	return site, st, nil
}

// watchStatus subscribes to every gateway's retained status until ctx is
// done. It uses its own client with a clean session: statuses are
// retained, so a reconnect gets the current ones again.
func (c *Console) watchStatus(ctx context.Context) {
	o := c.opts.MQTT
	log := c.log.With("component", "console-status")
	opts := mqtt.NewClientOptions().
		AddBroker(o.Broker).
		SetClientID(o.ClientID).
		SetUsername(o.Username).
		SetPassword(o.Password).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second)
	handler := func(_ mqtt.Client, m mqtt.Message) {
		if len(m.Payload()) == 0 {
			// An empty retained message clears a decommissioned gateway.
			if site, gw, _, err := telemetry.ParseTopic(m.Topic()); err == nil {
				c.status.remove(site, gw)
			}
			return
		}
		site, st, err := decodeStatus(m.Topic(), m.Payload())
		if err != nil {
			log.Warn("status ignored", "topic", m.Topic(), "error", err)
			return
		}
		switch c.status.putMessage(site, st, c.now(), m.Retained()) {
		case putUnregistered:
			if ok, n := c.noteStatus("unregistered"); ok {
				log.Warn("status ignored: gateway not in the registry", "topic", m.Topic(), "ignored_since_last_line", n)
			}
		case putEvicted:
			if ok, n := c.noteStatus("full"); ok {
				log.Warn("status book full: dropped the status of the gateway heard from least recently; configure a gateway registry, or raise console.max_gateways",
					"max_gateways", c.opts.Config.MaxGateways, "topic", m.Topic(), "dropped_since_last_line", n)
			}
		}
	}
	opts.SetOnConnectHandler(func(cl mqtt.Client) {
		// Subscribing from the handler itself would block paho's router.
		go func() {
			tok := cl.Subscribe(telemetry.StatusFilter, 1, handler)
			if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
				log.Info("status watcher subscribed", "broker", o.Broker, "filter", telemetry.StatusFilter)
			} else {
				log.Error("status subscribe failed", "broker", o.Broker, "error", tok.Error())
			}
			// Software update progress, for the fleet page (updates.go).
			tok = cl.Subscribe(telemetry.UpdateAckFilter, 1, func(_ mqtt.Client, m mqtt.Message) {
				if err := c.updates.put(m.Topic(), m.Payload()); err != nil {
					if ok, n := c.noteStatus("update-ack"); ok {
						log.Warn("update report ignored", "topic", m.Topic(), "error", err, "ignored_since_last_line", n)
					}
				}
			})
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				log.Error("update report subscribe failed", "broker", o.Broker, "error", tok.Error())
			}
		}()
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		log.Warn("status watcher: connection lost", "broker", o.Broker, "error", err)
	})
	if o.TLS != nil {
		opts.SetTLSConfig(o.TLS)
	}
	client := mqtt.NewClient(opts)
	c.alerts.setPublisher(func(topic string, payload []byte) error {
		tok := client.Publish(topic, 1, false, payload)
		if !tok.WaitTimeout(10 * time.Second) {
			return fmt.Errorf("no acknowledgement from %s within 10 s", o.Broker)
		}
		return tok.Error()
	})
	client.Connect()
	<-ctx.Done()
	client.Disconnect(250)
}
