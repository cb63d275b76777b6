package console

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

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
	telemetry.Status
}

// statusBook keeps the latest status per gateway. It is filled by the MQTT
// watcher and read by the API handlers.
type statusBook struct {
	mu sync.Mutex
	m  map[string]GatewayStatus // site/gateway
}

func (b *statusBook) put(site string, st telemetry.Status, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]GatewayStatus{}
	}
	b.m[site+"/"+st.Gateway] = GatewayStatus{Site: site, Received: at, Status: st}
}

func (b *statusBook) remove(site, gateway string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, site+"/"+gateway)
}

// list returns the statuses of a site (all sites when site is empty),
// sorted by gateway.
func (b *statusBook) list(site string) []GatewayStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []GatewayStatus
	for _, s := range b.m {
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
		c.status.put(site, st, c.now())
	}
	opts.SetOnConnectHandler(func(cl mqtt.Client) {
		// Subscribing from the handler itself would block paho's router.
		go func() {
			tok := cl.Subscribe(telemetry.StatusFilter, 1, handler)
			if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
				log.Info("status watcher subscribed", "broker", o.Broker, "filter", telemetry.StatusFilter)
				return
			}
			log.Error("status subscribe failed", "broker", o.Broker, "error", tok.Error())
		}()
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		log.Warn("status watcher: connection lost", "broker", o.Broker, "error", err)
	})
	if o.TLS != nil {
		opts.SetTLSConfig(o.TLS)
	}
	client := mqtt.NewClient(opts)
	client.Connect()
	<-ctx.Done()
	client.Disconnect(250)
}
