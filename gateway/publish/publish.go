// Package publish sends a gateway's telemetry and status to the MQTT broker.
package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

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
	Seq                *Sequence
	// Devices reports the devices' states for the status message.
	Devices func() map[string]telemetry.DeviceState
	Logger  *slog.Logger
}

// Publisher owns the MQTT client.
type Publisher struct {
	o      Options
	client mqtt.Client
	log    *slog.Logger
}

// Connect starts the MQTT client. It keeps trying in the background when the
// broker is unreachable; publishing waits until it is connected.
func Connect(o Options) *Publisher {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	p := &Publisher{o: o, log: o.Logger.With("broker", o.Broker)}
	will, _ := json.Marshal(telemetry.Status{V: telemetry.Version, Gateway: o.Gateway, State: "offline", Boot: o.Boot})
	opts := mqtt.NewClientOptions().
		AddBroker(o.Broker).
		SetClientID(o.ClientID).
		SetUsername(o.Username).
		SetPassword(o.Password).
		SetKeepAlive(o.KeepAlive).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(30*time.Second).
		SetWriteTimeout(10*time.Second).
		SetBinaryWill(telemetry.StatusTopic(o.Site, o.Gateway), will, 1, true).
		SetOnConnectHandler(func(c mqtt.Client) {
			p.log.Info("mqtt connected")
			// Birth: in its own goroutine, since paho must not block in this handler.
			go p.PublishStatus("online")
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			p.log.Warn("mqtt connection lost", "error", err)
		})
	p.client = mqtt.NewClient(opts)
	p.client.Connect() // with ConnectRetry it retries until it succeeds or Close
	return p
}

// Publish sends one payload at QoS 1 and returns once the broker acknowledged
// it (PUBACK), or ctx ends.
func (p *Publisher) Publish(ctx context.Context, topic string, payload []byte, retained bool) error {
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !p.client.IsConnectionOpen() {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
				continue
			}
		}
		tok := p.client.Publish(topic, 1, retained, payload)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tok.Done():
		}
		if err := tok.Error(); err != nil {
			p.log.Warn("publish failed, retrying", "topic", topic, "error", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		return nil
	}
}

// PublishMessage numbers and sends a telemetry message.
func (p *Publisher) PublishMessage(ctx context.Context, m *telemetry.Message) error {
	payload, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("gateway %s seq %d: encode: %w", m.Gateway, m.Seq, err)
	}
	return p.Publish(ctx, telemetry.TelemetryTopic(p.o.Site, p.o.Gateway), payload, false)
}

// PublishStatus sends the retained status.
func (p *Publisher) PublishStatus(state string) {
	st := telemetry.Status{
		V: telemetry.Version, Gateway: p.o.Gateway, State: state, Version: p.o.Version,
		ConfigVersion: p.o.ConfigVersion, Boot: p.o.Boot, TS: time.Now().UnixMilli(),
	}
	if p.o.Seq != nil {
		st.Seq = p.o.Seq.Last()
	}
	if p.o.Devices != nil {
		st.Devices = p.o.Devices()
	}
	payload, _ := json.Marshal(st)
	tok := p.client.Publish(telemetry.StatusTopic(p.o.Site, p.o.Gateway), 1, true, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		p.log.Warn("status not published", "state", state, "error", errors.Join(tok.Error()))
	}
}

// Close publishes the offline status and disconnects.
func (p *Publisher) Close() {
	if p.client.IsConnectionOpen() {
		p.PublishStatus("offline")
	}
	p.client.Disconnect(1000)
}
