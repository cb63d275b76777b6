package derived

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// MQTTPublisher publishes alerts with its own client, so alerts do not
// depend on the telemetry consumer's session.
type MQTTPublisher struct {
	client mqtt.Client
}

// MQTTOptions locate the broker.
type MQTTOptions struct {
	Broker, ClientID   string
	Username, Password string
	Logger             *slog.Logger
}

// NewMQTT connects in the background (and reconnects); Publish waits for
// the connection.
func NewMQTT(o MQTTOptions) *MQTTPublisher {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	opts := mqtt.NewClientOptions().AddBroker(o.Broker).SetClientID(o.ClientID).
		SetUsername(o.Username).SetPassword(o.Password).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second)
	opts.SetOnConnectHandler(func(mqtt.Client) { log.Info("alerts mqtt connected", "broker", o.Broker) })
	c := mqtt.NewClient(opts)
	c.Connect()
	return &MQTTPublisher{client: c}
}

// Publish sends payload at QoS 1 and waits for the broker's PUBACK.
func (p *MQTTPublisher) Publish(ctx context.Context, topic string, payload []byte) error {
	tok := p.client.Publish(topic, 1, false, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqtt publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return fmt.Errorf("mqtt publish %s: no PUBACK within 30 s", topic)
	}
}

// Close disconnects.
func (p *MQTTPublisher) Close() { p.client.Disconnect(500) }
