// Package broker runs the MQTT broker embedded in the collector, so a single
// machine needs no separate broker.
//
// Configured with logins (gateways' password hashes, mqtt.embedded_users),
// it is as strict as the shipped Mosquitto deployment: every client logs
// in, the shipped ACL (deploy/mosquitto/boilerwatch.acl) applies, and no
// packet may exceed MaxPacketSize. Without logins it lets anyone in, which
// the collector config allows only on a loopback address.
package broker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/console/password"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// PacketOverhead is what an MQTT PUBLISH adds to its payload, generously:
// fixed header (5), topic (2 + at most 155 for BoilerWatch topics), packet
// id (2) and MQTT 5 properties.
const PacketOverhead = 1 << 10

// MaxPacketSize is the largest packet the broker reads: the collector's
// decoder accepts at most telemetry.MaxPayload, and a larger packet is
// refused from its fixed header (the connection is closed) before any of
// it is buffered. deploy/mosquitto/conf.d/boilerwatch.conf has the same
// max_packet_size.
const MaxPacketSize = telemetry.MaxPayload + PacketOverhead

// InternalUser is the username of the collector's own clients (ingest,
// console, alerts) on its embedded broker; the password is made at each
// start and never leaves the process. No configured account can have it
// (usernames are letters, digits, - _ . and gateways' have a slash).
const InternalUser = "$collector"

// InternalSecretEnv is the environment variable of this process (not of
// the service's environment: it is set at start, see StartConfig) that
// holds the internal password, for the clients that read their password
// from mqtt.password_env.
const InternalSecretEnv = "BW_EMBEDDED_BROKER_SECRET"

// Broker is an embedded MQTT broker listening on one TCP address.
type Broker struct {
	srv     *mqtt.Server
	addr    string
	hook    *authHook // nil: no logins
	backlog *backlogHook
	close   sync.Once
	err     error
	secret  string
}

// Start listens on addr (host:port; port 0 picks a free one) and serves,
// without logins (anyone may connect and publish anywhere) but with
// MaxPacketSize, until ctx is done or Close is called. For tests and
// loopback-only use; the collector uses StartConfig.
func Start(ctx context.Context, addr string, log *slog.Logger) (*Broker, error) {
	return start(ctx, addr, nil, func(*mqtt.Client) bool { return true }, log)
}

// StartConfig starts the broker of cfg.MQTT.Embedded with the logins of
// the gateway registry and mqtt.embedded_users, if any. When logins are on
// and the collector's own clients would connect to this broker without a
// configured mqtt.username, it points cfg.MQTT.Username and PasswordEnv at
// the internal login (InternalUser, InternalSecretEnv), so they need no
// configuration.
func StartConfig(ctx context.Context, cfg *config.Collector, log *slog.Logger) (*Broker, error) {
	// The collector's ingest, and with logins any client of role
	// collector (another collector consuming here), are the consumers
	// whose backlog holds publishers back (backlogHook).
	ingest := cfg.MQTT.ClientID
	if !cfg.EmbeddedAuth() {
		return start(ctx, cfg.MQTT.Embedded, nil, func(cl *mqtt.Client) bool { return cl.ID == ingest }, log)
	}
	a, err := parseACL(shippedACL)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	h := &authHook{
		acl:            a,
		accounts:       map[string]account{},
		internalSecret: base64.RawURLEncoding.EncodeToString(secret),
		hashing:        make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
		verified:       map[string][32]byte{},
		log:            log.With("component", "broker"),
	}
	for _, g := range cfg.Gateways {
		if g.PasswordHash == "" {
			continue
		}
		p, err := password.Parse(g.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("embedded broker: gateway %s: %w", g.Identity(), err)
		}
		h.accounts[g.Identity()] = account{role: roleGateway, hash: p}
	}
	for _, u := range cfg.MQTT.EmbeddedUsers {
		p, err := password.Parse(u.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("embedded broker: user %s: %w", u.Username, err)
		}
		h.accounts[u.Username] = account{role: u.Role, hash: p}
	}
	consumer := func(cl *mqtt.Client) bool {
		_, role := h.identity(cl)
		return cl.ID == ingest || role == roleCollector
	}
	b, err := start(ctx, cfg.MQTT.Embedded, h, consumer, log)
	if err != nil {
		return nil, err
	}
	if cfg.MQTT.Username == "" && cfg.MQTT.Broker == "tcp://"+cfg.MQTT.Embedded {
		user, pw := b.CollectorLogin()
		if err := os.Setenv(InternalSecretEnv, pw); err != nil {
			b.Close()
			return nil, fmt.Errorf("embedded broker: %w", err)
		}
		cfg.MQTT.Username, cfg.MQTT.PasswordEnv = user, InternalSecretEnv
	}
	return b, nil
}

func start(ctx context.Context, addr string, h *authHook, consumer func(*mqtt.Client) bool, log *slog.Logger) (*Broker, error) {
	// Listen ourselves so that port 0 works and the bound address is known.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	bound := ln.Addr().String()
	ln.Close()
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = MaxPacketSize
	// Topic aliases would let a publish name its topic after the ACL
	// check (mochi resolves them later); BoilerWatch's clients use none.
	caps.TopicAliasMaximum = 0
	caps.MaximumInflight = 2 * sessionBacklog
	// mochi deletes a queued message older than this (24 h by default)
	// from its session: a collector whose InfluxDB is down for a day still
	// gets every message it was sent. 14 days, as the shipped Mosquitto
	// keeps a session (persistent_client_expiration).
	caps.MaximumMessageExpiryInterval = 14 * 24 * 60 * 60
	caps.MaximumClientWritesPending = 2 * sessionBacklog
	srv := mqtt.New(&mqtt.Options{
		Logger:       log.With("component", "broker"),
		InlineClient: false,
		Capabilities: caps,
	})
	var hook mqtt.Hook = new(auth.AllowHook)
	if h != nil {
		h.srv = srv
		hook = h
	}
	if err := srv.AddHook(hook, nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.AddHook(newTakeoverHook(log.With("component", "broker")), nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	backlog := &backlogHook{srv: srv, consumer: consumer, log: log.With("component", "broker")}
	if err := srv.AddHook(backlog, nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{Type: "tcp", ID: "tcp", Address: bound})); err != nil {
		return nil, fmt.Errorf("embedded broker on %s: %w", bound, err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("embedded broker on %s: %w", bound, err)
	}
	b := &Broker{srv: srv, addr: bound, hook: h, backlog: backlog}
	if h != nil {
		b.secret = h.internalSecret
	}
	context.AfterFunc(ctx, func() { b.Close() })
	return b, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// Auth reports whether clients must log in.
func (b *Broker) Auth() bool { return b.hook != nil }

// CollectorLogin is the username and password of the collector's own
// clients: made at start, held in memory, role collector in the ACL.
// Empty when the broker has no logins.
func (b *Broker) CollectorLogin() (username, password string) {
	if b.hook == nil {
		return "", ""
	}
	return InternalUser, b.secret
}

// Refused counts connections refused (bad login, forbidden will, another
// user's client id).
func (b *Broker) Refused() uint64 {
	if b.hook == nil {
		return 0
	}
	return b.hook.refused.Load()
}

// Denied counts publishes, subscriptions and deliveries the ACL refused.
func (b *Broker) Denied() uint64 {
	if b.hook == nil {
		return 0
	}
	return b.hook.denied.Load()
}

// Held counts publishes left unacknowledged because a consumer's backlog
// was full (see backlogHook); their senders send them again.
func (b *Broker) Held() uint64 { return b.backlog.held.Load() }

// Dropped counts messages the broker dropped although their publisher had
// its PUBACK: a session's queue or write queue overflowed. Only sessions
// that are no consumer's can overflow (backlogHook).
func (b *Broker) Dropped() uint64 {
	return uint64(atomic.LoadInt64(&b.srv.Info.InflightDropped) + atomic.LoadInt64(&b.srv.Info.MessagesDropped))
}

// Close stops the broker; it may be called more than once (mochi's own Close
// panics on a second call).
func (b *Broker) Close() error {
	b.close.Do(func() { b.err = b.srv.Close() })
	return b.err
}
