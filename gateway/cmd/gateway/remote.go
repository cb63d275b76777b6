package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/poll"
	"github.com/boilerwatch/boilerwatch/gateway/publish"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// mqttTLS is the gateway's TLS config for an ssl:// or tls:// broker, nil
// for tcp://.
func mqttTLS(m fwconfig.MQTT) (*tls.Config, error) {
	if !strings.HasPrefix(m.Broker, "ssl://") && !strings.HasPrefix(m.Broker, "tls://") {
		return nil, nil
	}
	c, err := fwconfig.ClientTLS(m.CAFile, m.CertFile, m.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	return c, nil
}

// remote runs the poll.Site of the config in force and replaces it when a
// signed config is pushed on the gateway's config topic (docs/wire-format.md).
//
// Only the site is swapped: the disk queue, the forwarder and the MQTT
// connection stay, so no queued sample is lost, seq goes on, and the
// session is not dropped. Settings that those hold (broker, identity,
// queue) cannot change this way; such a push is rejected as "needs
// restart" rather than half applied.
type remote struct {
	log      *slog.Logger
	siteLog  *slog.Logger // the sites', without our component tag
	siteOpts poll.SiteOptions
	// pub reports the config version in the status; set before Run.
	pub *publish.Publisher

	pushes chan pushed

	mu   sync.Mutex
	site *poll.Site
	link *publish.Link // the connection acks go out on; nil while down
	// unsent are acks that found no connection; sent on the next one.
	unsent []telemetry.ConfigAck

	// Owned by Run's goroutine.
	cfg    *fwconfig.Gateway
	raw    []byte // cfg's file, byte for byte
	key    ed25519.PublicKey
	trial  *trial
	cancel context.CancelFunc
	done   chan struct{}
	// answered are pushes already decided in this process: a reconnect
	// redelivers the retained config, which must not be decided twice.
	answered map[[32]byte]bool
}

type pushed struct {
	payload  []byte
	retained bool // sent because we subscribed, not pushed just now
}

// trial is a pushed config that has not yet proved itself: unless a device
// answers before deadline, prev comes back.
type trial struct {
	version  int
	prev     *fwconfig.Gateway
	prevRaw  []byte
	deadline time.Time
}

func newRemote(cfg *fwconfig.Gateway, site *poll.Site, opts poll.SiteOptions, log *slog.Logger) (*remote, error) {
	r := &remote{log: log.With("component", "remote-config"), siteLog: log, siteOpts: opts, site: site, cfg: cfg,
		pushes: make(chan pushed, 16), answered: map[[32]byte]bool{}}
	if cfg.Remote.PublicKey == "" {
		return r, nil
	}
	raw, err := os.ReadFile(cfg.File)
	if err != nil {
		return nil, fmt.Errorf("remote config: %w", err)
	}
	r.raw = raw
	if r.key, err = loadKey(cfg); err != nil {
		return nil, err
	}
	return r, nil
}

// loadKey reads remote_config.public_key, relative to the config file.
func loadKey(cfg *fwconfig.Gateway) (ed25519.PublicKey, error) {
	p := cfg.Remote.PublicKey
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(cfg.File), p)
	}
	k, err := fwconfig.LoadPublicKey(p)
	if err != nil {
		return nil, fmt.Errorf("remote_config.public_key: %w", err)
	}
	return k, nil
}

// enabled reports whether pushes are listened to.
func (r *remote) enabled() bool { return r.key != nil }

// States is the running site's device states, for the status.
func (r *remote) States() map[string]telemetry.DeviceState {
	r.mu.Lock()
	s := r.site
	r.mu.Unlock()
	return s.States()
}

// onConnect subscribes to the config topic on each new connection (QoS 1:
// a push made while the gateway is away is kept retained by the broker and
// arrives at the next connect) and sends acks that found no connection.
func (r *remote) onConnect(l *publish.Link) error {
	err := l.Subscribe(telemetry.ConfigTopic(r.cfg.Site, r.cfg.Gateway), 1, func(payload []byte, retained bool) {
		// Never block paho's receive goroutine: it also reads PUBACKs.
		select {
		case r.pushes <- pushed{payload, retained}:
		default:
			r.log.Warn("config push dropped: previous pushes still being applied")
		}
	})
	if err != nil {
		return fmt.Errorf("remote config: %w", err)
	}
	r.mu.Lock()
	r.link = l
	unsent := r.unsent
	r.unsent = nil
	r.mu.Unlock()
	for _, a := range unsent {
		r.ack(a)
	}
	return nil
}

// Run polls with the running site until ctx ends, applying pushed configs
// and rolling back those under which no device answers.
func (r *remote) Run(ctx context.Context, out func(telemetry.Sample)) {
	r.start(ctx, out)
	defer r.stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-r.pushes:
			r.handle(ctx, out, p)
		case <-tick.C:
			r.checkTrial(ctx, out)
		}
	}
}

func (r *remote) start(ctx context.Context, out func(telemetry.Sample)) {
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r.mu.Lock()
	site := r.site
	r.mu.Unlock()
	go func() {
		defer close(done)
		site.Run(sctx, out)
	}()
	r.cancel, r.done = cancel, done
}

// stop ends the running site and waits for it: samples of polls that
// complete meanwhile still reach out, and so the queue.
func (r *remote) stop() {
	r.cancel()
	<-r.done
}

// swap stops the running site and starts one for cfg.
func (r *remote) swap(ctx context.Context, out func(telemetry.Sample), cfg *fwconfig.Gateway, raw []byte) {
	r.stop()
	site := poll.NewSite(cfg, r.siteOpts, r.siteLog)
	r.mu.Lock()
	r.site = site
	r.mu.Unlock()
	r.cfg, r.raw = cfg, raw
	r.start(ctx, out)
	if r.pub != nil {
		r.pub.SetConfigVersion(strconv.Itoa(cfg.Version))
	}
}

func (r *remote) handle(ctx context.Context, out func(telemetry.Sample), p pushed) {
	if len(p.payload) == 0 {
		return // the retained config was cleared
	}
	sum := sha256.Sum256(p.payload)
	if r.answered[sum] {
		return
	}
	g, s, err := fwconfig.Verify(p.payload, r.key, r.cfg.Site, r.cfg.Gateway, r.cfg.Version)
	if errors.Is(err, fwconfig.ErrNotNewer) {
		switch {
		case s.Version == r.cfg.Version && bytes.Equal(s.Config, r.raw):
			// The config in force, e.g. the retained copy of the last push
			// redelivered at connect: nothing to do. A live push of it is
			// answered, so that fwconfig push gets its verdict.
			if !p.retained {
				r.answer(sum, s.Version, telemetry.ConfigApplied, "already running")
			}
			return
		case p.retained:
			// History, not a push: a retained older config redelivered at
			// connect was answered when it was pushed.
			r.log.Info("retained config ignored", "version", s.Version, "running", r.cfg.Version)
			r.answered[sum] = true
			return
		}
	}
	version := 0
	if s != nil {
		version = s.Version
	}
	if err != nil {
		r.answer(sum, version, telemetry.ConfigRejected, err.Error())
		return
	}
	// Verify parsed it under a placeholder name; parse again as the file it
	// becomes, so profile_dirs and key paths resolve beside it.
	if g, err = fwconfig.ParseGateway(r.cfg.File, s.Config); err != nil {
		r.answer(sum, version, telemetry.ConfigRejected, err.Error())
		return
	}
	if why := needsRestart(r.cfg, g); why != "" {
		r.answer(sum, version, telemetry.ConfigRejected, "needs restart: "+why)
		return
	}
	key, err := loadKey(g)
	if err != nil {
		r.answer(sum, version, telemetry.ConfigRejected, err.Error())
		return
	}
	// The file first: if it cannot be written nothing has changed, and a
	// restart comes back with what runs.
	if err := writeAtomic(r.cfg.File+".prev", r.raw); err != nil {
		r.answer(sum, version, telemetry.ConfigRejected, err.Error())
		return
	}
	if err := writeAtomic(r.cfg.File, s.Config); err != nil {
		r.answer(sum, version, telemetry.ConfigRejected, err.Error())
		return
	}
	// A push on top of one still on trial rolls back to the last config
	// that proved itself, not to the untried one.
	t := &trial{version: g.Version, prev: r.cfg, prevRaw: r.raw, deadline: time.Now().Add(g.Remote.RollbackAfter)}
	if r.trial != nil {
		t.prev, t.prevRaw = r.trial.prev, r.trial.prevRaw
	}
	r.trial = t
	from := r.cfg.Version
	r.swap(ctx, out, g, s.Config)
	r.key = key
	r.log.Info("config applied", "version", g.Version, "from", from, "devices", len(g.Devices), "rollback_after", g.Remote.RollbackAfter)
	r.answer(sum, version, telemetry.ConfigApplied, "")
}

// checkTrial confirms the config on trial once a device answers, or rolls
// it back when none did by the deadline.
func (r *remote) checkTrial(ctx context.Context, out func(telemetry.Sample)) {
	if r.trial == nil {
		return
	}
	for _, st := range r.States() {
		if st.State == poll.Online {
			r.log.Info("config confirmed: a device answers", "version", r.trial.version)
			r.trial = nil
			return
		}
	}
	if time.Now().Before(r.trial.deadline) {
		return
	}
	t := r.trial
	r.trial = nil
	reason := fmt.Sprintf("no device answered within %s of applying version %d", r.cfg.Remote.RollbackAfter, t.version)
	if err := writeAtomic(r.cfg.File, t.prevRaw); err != nil {
		// The previous config runs again all the same; a restart would
		// bring the failed one back, so say so loudly.
		r.log.Error("rolled back, but the config file was not restored", "error", err)
		reason += "; config file not restored: " + err.Error()
	}
	r.swap(ctx, out, t.prev, t.prevRaw)
	if k, err := loadKey(t.prev); err == nil {
		r.key = k
	}
	r.log.Warn("config rolled back", "version", t.version, "running", t.prev.Version, "reason", reason)
	r.ack(telemetry.ConfigAck{V: telemetry.Version, Gateway: r.cfg.Gateway, Version: t.version, Running: t.prev.Version,
		Status: telemetry.ConfigRolledBack, Reason: reason, TS: time.Now().UnixMilli()})
}

// answer records the verdict on a push and publishes it.
func (r *remote) answer(sum [32]byte, version int, status, reason string) {
	r.answered[sum] = true
	if status == telemetry.ConfigRejected {
		r.log.Warn("config rejected", "version", version, "running", r.cfg.Version, "reason", reason)
	}
	r.ack(telemetry.ConfigAck{V: telemetry.Version, Gateway: r.cfg.Gateway, Version: version, Running: r.cfg.Version,
		Status: status, Reason: reason, TS: time.Now().UnixMilli()})
}

// ack publishes on config/ack at QoS 1, not retained: an ack answers one
// push; a retained one would answer the next subscriber's push too.
func (r *remote) ack(a telemetry.ConfigAck) {
	payload, _ := json.Marshal(a)
	r.mu.Lock()
	l := r.link
	r.mu.Unlock()
	if l != nil {
		tok := l.PublishOn(telemetry.ConfigAckTopic(r.cfg.Site, r.cfg.Gateway), 1, false, payload)
		select {
		case <-tok.Done():
			if tok.Error() == nil {
				return
			}
		case <-time.After(10 * time.Second):
		}
	}
	r.log.Warn("config ack not sent; retried at the next connect", "version", a.Version, "status", a.Status)
	r.mu.Lock()
	r.unsent = append(r.unsent, a)
	r.mu.Unlock()
}

// needsRestart names what a pushed config changes that only a restart can:
// the MQTT connection and the disk queue are kept across a push.
func needsRestart(old, new *fwconfig.Gateway) string {
	var what []string
	om, nm := old.MQTT, new.MQTT
	if om.Broker != nm.Broker || om.ClientID != nm.ClientID || om.Username != nm.Username || om.PasswordEnv != nm.PasswordEnv ||
		om.CAFile != nm.CAFile || om.CertFile != nm.CertFile || om.KeyFile != nm.KeyFile || om.KeepAlive != nm.KeepAlive {
		what = append(what, "mqtt")
	}
	oq, nq := old.Queue, new.Queue
	if oq.Dir != nq.Dir || oq.MaxBytes != nq.MaxBytes || oq.Fsync != nq.Fsync || oq.FsyncAlways != nq.FsyncAlways ||
		oq.FsyncRecords != nq.FsyncRecords || oq.ReplayRate != nq.ReplayRate || oq.WaitForCollector != nq.WaitForCollector {
		what = append(what, "queue")
	}
	if new.Remote.PublicKey == "" {
		// Without a key the gateway would stop listening for pushes.
		what = append(what, "remote_config.public_key removed")
	}
	if len(what) == 0 {
		return ""
	}
	return strings.Join(what, ", ") + " changed"
}

// writeAtomic replaces path with data: a crash leaves the old file or the
// new one, never a mix.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write config %s: %w", path, err)
	}
	return nil
}
