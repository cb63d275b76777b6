// Package broker runs the MQTT broker embedded in the collector, so a single
// machine needs no separate broker.
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Broker is an embedded MQTT broker listening on one TCP address.
type Broker struct {
	srv   *mqtt.Server
	addr  string
	close sync.Once
	err   error
}

// Start listens on addr (host:port; port 0 picks a free one) and serves until
// ctx is done or Close is called.
func Start(ctx context.Context, addr string, log *slog.Logger) (*Broker, error) {
	// Listen ourselves so that port 0 works and the bound address is known.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	bound := ln.Addr().String()
	ln.Close()
	srv := mqtt.New(&mqtt.Options{
		Logger:       log.With("component", "broker"),
		InlineClient: false,
	})
	// The embedded broker is the single-machine default on loopback; a site
	// that needs identities runs Mosquitto with TLS (see deploy/).
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{Type: "tcp", ID: "tcp", Address: bound})); err != nil {
		return nil, fmt.Errorf("embedded broker on %s: %w", bound, err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("embedded broker on %s: %w", bound, err)
	}
	b := &Broker{srv: srv, addr: bound}
	context.AfterFunc(ctx, func() { b.Close() })
	return b, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker; it may be called more than once (mochi's own Close
// panics on a second call).
func (b *Broker) Close() error {
	b.close.Do(func() { b.err = b.srv.Close() })
	return b.err
}
