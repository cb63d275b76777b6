// Package remote applies the signed configs an operator pushes to a gateway
// over MQTT (README "Remote configuration"): it verifies each push, decides
// duplicates and replays by the (site, gateway, version) the operator
// signed, writes the config file atomically with the mode it had, and rolls
// back a config under which no device answers. What it must not forget
// across restarts (rolled-back versions, a trial in progress) is kept in a
// state file beside the queue directory.
//
// The gateway's main only wires it to the poller and the MQTT connection,
// through the Site and Link interfaces, so it is tested without processes.
package remote

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/poll"
	"github.com/boilerwatch/boilerwatch/gateway/publish"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"

	"github.com/boilerwatch/boilerwatch/gateway/atomicfile"
)

// Site is a running set of polled devices; *poll.Site is one.
type Site interface {
	Run(ctx context.Context, out func(telemetry.Sample))
	// States is each device's state; an Online one confirms a trial.
	States() map[string]telemetry.DeviceState
}

// Link is a connection to the broker; *publish.Link is one.
type Link interface {
	Subscribe(topic string, qos byte, h func(payload []byte, retained bool)) error
	PublishOn(topic string, qos byte, retained bool, payload []byte) publish.Completion
}

// Options are what the gateway wires in.
type Options struct {
	// NewSite builds the site of a pushed config, or of the previous one
	// on rollback.
	NewSite func(*fwconfig.Gateway) Site
	// OnVersion is told the running config version after each change (for
	// the status); may be nil.
	OnVersion func(version int)
	// StatePath is the state file; empty: StatePath(cfg).
	StatePath string
	Log       *slog.Logger
	// Now is the clock of trial deadlines; nil: time.Now.
	Now func() time.Time
	// AckTimeout bounds the wait for an ack's PUBACK; 0: 10 s.
	AckTimeout time.Duration
}

// Remote runs the site of the config in force and replaces it when a signed
// config is pushed on the gateway's config topic (docs/wire-format.md).
//
// Only the site is swapped: the disk queue, the forwarder and the MQTT
// connection stay, so no queued sample is lost, seq goes on, and the
// session is not dropped. Settings that those hold (broker, identity,
// queue) cannot change this way; such a push is rejected as "needs
// restart" rather than half applied.
type Remote struct {
	log    *slog.Logger
	o      Options
	pushes chan pushed

	mu   sync.Mutex
	site Site
	link Link // the connection acks go out on; nil while down
	// unsent are acks that found no connection; sent on the next one.
	unsent []telemetry.ConfigAck

	// Owned by Run's goroutine.
	cfg   *fwconfig.Gateway
	raw   []byte // cfg's file, byte for byte
	key   ed25519.PublicKey
	state *state
	// stateErr: the state file could not be read. Polling goes on, but no
	// push is applied: without the file a rolled-back version could run
	// again.
	stateErr error
	trial    *trial
	cancel   context.CancelFunc
	done     chan struct{}
	// decided are the signed pushes answered in this process, so that the
	// retained copy the broker redelivers at each connect is not answered
	// again. A live push is always answered: its pusher waits for it.
	decided map[pushID]bool
	// junk are payloads answered that carry no valid signature, by hash:
	// their version is only a claim, so it must not stand for a push.
	junk map[[32]byte]bool
}

// pushID is what makes two pushes the same: everything the operator
// signed, never the payload's bytes. Whether a push may run is decided by
// its version alone (decide); the config's hash only keeps a push that was
// refused for its content (say "needs restart") from standing for a fixed
// one signed again under the same version.
type pushID struct {
	site, gateway string
	version       int
	config        [32]byte
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

// maxJunk bounds the remembered unsigned payloads; forgetting one costs
// only a repeated rejection.
const maxJunk = 64

// New returns the remote config controller of cfg, running site. Without
// remote_config.public_key it only runs the site.
func New(cfg *fwconfig.Gateway, site Site, o Options) (*Remote, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AckTimeout == 0 {
		o.AckTimeout = 10 * time.Second
	}
	if o.StatePath == "" {
		o.StatePath = StatePath(cfg)
	}
	r := &Remote{log: o.Log.With("component", "remote-config"), o: o, site: site, cfg: cfg,
		pushes: make(chan pushed, 16), decided: map[pushID]bool{}, junk: map[[32]byte]bool{}}
	if cfg.Remote.PublicKey == "" {
		return r, nil
	}
	raw, err := os.ReadFile(cfg.File)
	if err != nil {
		return nil, fmt.Errorf("remote config: %w", err)
	}
	r.raw = raw
	if r.key, err = LoadKey(cfg); err != nil {
		return nil, err
	}
	if r.state, err = loadState(o.StatePath, cfg.Site, cfg.Gateway); err != nil {
		r.stateErr = err
		r.log.Error("pushed configs are refused until the state file is repaired or removed", "error", err)
		return r, nil
	}
	r.resumeTrial()
	return r, nil
}

// resumeTrial takes up a trial that a restart interrupted: the config in
// force has not proved itself yet, and FILE.prev is what it replaced.
func (r *Remote) resumeTrial() {
	t := r.state.Trial
	if t == nil {
		return
	}
	prevFile := r.cfg.File + ".prev"
	prevRaw, err := os.ReadFile(prevFile)
	var prev *fwconfig.Gateway
	if err == nil {
		prev, err = fwconfig.ParseGateway(r.cfg.File, prevRaw)
	}
	switch {
	case t.Version != r.cfg.Version:
		// Stopped before the file was written, or the operator changed
		// it since: the trial is of a config that does not run.
		r.log.Info("trial of a config not in force dropped", "version", t.Version, "running", r.cfg.Version)
	case err != nil:
		r.log.Error("config on trial cannot be rolled back: previous config unreadable; it stays", "version", t.Version, "error", err)
	case prev.Version != t.From || needsRestart(r.cfg, prev) != "":
		r.log.Error("config on trial cannot be rolled back: "+prevFile+" is not the config it replaced; it stays",
			"version", t.Version, "prev_version", prev.Version, "want", t.From)
	default:
		// A fresh grace period: the devices need the time to answer after
		// a restart as after a push.
		r.trial = &trial{version: t.Version, prev: prev, prevRaw: prevRaw, deadline: r.o.Now().Add(r.cfg.Remote.RollbackAfter.Duration)}
		r.log.Warn("config trial resumed after a restart", "version", t.Version, "rollback_to", t.From, "rollback_after", r.cfg.Remote.RollbackAfter.Duration)
		return
	}
	r.state.Trial = nil
	if err := r.state.save(); err != nil {
		r.log.Error("remote config state not saved", "error", err)
	}
}

// LoadKey reads remote_config.public_key, relative to the config file:
// the operator's key that signs configs and releases (gateway/update).
func LoadKey(cfg *fwconfig.Gateway) (ed25519.PublicKey, error) {
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

// Enabled reports whether pushes are listened to.
func (r *Remote) Enabled() bool { return r.key != nil }

// Site is the running site.
func (r *Remote) Site() Site {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.site
}

// States is the running site's device states, for the status.
func (r *Remote) States() map[string]telemetry.DeviceState { return r.Site().States() }

// OnConnect subscribes to the config topic on each new connection (QoS 1:
// a push made while the gateway is away is kept retained by the broker and
// arrives at the next connect) and sends acks that found no connection.
func (r *Remote) OnConnect(l Link) error {
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
func (r *Remote) Run(ctx context.Context, out func(telemetry.Sample)) {
	r.start(ctx, out)
	defer r.stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		// The tick only while a config is on trial: a channel timer
		// nobody waits on does not fire, so an idle gateway is not woken
		// four times a second for nothing.
		var trialTick <-chan time.Time
		if r.trial != nil {
			trialTick = tick.C
		}
		select {
		case <-ctx.Done():
			return
		case p := <-r.pushes:
			r.handle(ctx, out, p)
		case <-trialTick:
			r.checkTrial(ctx, out)
		}
	}
}

func (r *Remote) start(ctx context.Context, out func(telemetry.Sample)) {
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	site := r.Site()
	go func() {
		defer close(done)
		site.Run(sctx, out)
	}()
	r.cancel, r.done = cancel, done
}

// stop ends the running site and waits for it: samples of polls that
// complete meanwhile still reach out, and so the queue.
func (r *Remote) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel, r.done = nil, nil
}

// swap stops the running site and starts one for cfg.
func (r *Remote) swap(ctx context.Context, out func(telemetry.Sample), cfg *fwconfig.Gateway, raw []byte) {
	r.stop()
	site := r.o.NewSite(cfg)
	r.mu.Lock()
	r.site = site
	r.mu.Unlock()
	r.cfg, r.raw = cfg, raw
	r.start(ctx, out)
	if r.o.OnVersion != nil {
		r.o.OnVersion(cfg.Version)
	}
}

// verdict is what decide makes of a push whose signature verified.
type verdict int

const (
	apply   verdict = iota // newer, for us, valid so far: apply it
	running                // the config in force, byte for byte
	replay                 // ran here before: not newer, or rolled back
	refuse                 // for another gateway, or invalid
)

// decide judges a push signed by the operator's key, by what was signed:
// its site, gateway and version, never the payload's bytes (which the
// signature does not fix; fwconfig.Verify refuses other spellings anyway).
// verr is fwconfig.Verify's error, which already compares the version with
// the running one.
func decide(s *fwconfig.Signed, verr error, runningRaw []byte, st *state) (verdict, string) {
	switch {
	case errors.Is(verr, fwconfig.ErrNotForMe):
		return refuse, verr.Error()
	case errors.Is(verr, fwconfig.ErrNotNewer):
		if string(s.Config) == string(runningRaw) {
			return running, "already running"
		}
		return replay, verr.Error()
	}
	if st != nil {
		if rb, ok := st.rolledBack(s.Version); ok {
			return replay, fmt.Sprintf("version %d was rolled back at %s (%s); it is never applied again: push a higher version",
				s.Version, rb.At.Format(time.RFC3339), rb.Reason)
		}
	}
	if verr != nil {
		return refuse, verr.Error()
	}
	return apply, ""
}

// authentic reports whether Verify got as far as a valid signature, so the
// envelope's site, gateway and version are the operator's.
func authentic(verr error) bool {
	return !errors.Is(verr, fwconfig.ErrMalformed) && !errors.Is(verr, fwconfig.ErrBadSignature)
}

func (r *Remote) handle(ctx context.Context, out func(telemetry.Sample), p pushed) {
	if len(p.payload) == 0 {
		return // the retained config was cleared
	}
	_, s, err := fwconfig.Verify(p.payload, r.key, r.cfg.Site, r.cfg.Gateway, r.cfg.Version)
	if !authentic(err) {
		sum := sha256.Sum256(p.payload)
		if p.retained && r.junk[sum] {
			return
		}
		if len(r.junk) >= maxJunk {
			clear(r.junk)
		}
		r.junk[sum] = true
		claimed := 0
		if s != nil {
			claimed = s.Version
		}
		r.reject(claimed, err.Error())
		return
	}
	id := pushID{s.Site, s.Gateway, s.Version, sha256.Sum256(s.Config)}
	if p.retained && r.decided[id] {
		return // redelivered at a reconnect; answered when it came
	}
	r.decided[id] = true
	v, reason := decide(s, err, r.raw, r.state)
	switch {
	case v == running && p.retained:
		return // the retained copy of the config in force
	case v == running:
		r.answer(s.Version, telemetry.ConfigApplied, reason)
		return
	case v == replay && p.retained:
		// History, not a push: answered when it was pushed.
		r.log.Info("retained config ignored", "version", s.Version, "running", r.cfg.Version, "reason", reason)
		return
	case v != apply:
		r.reject(s.Version, reason)
		return
	}
	if err := r.apply(ctx, out, s); err != nil {
		r.reject(s.Version, err.Error())
		return
	}
	r.answer(s.Version, telemetry.ConfigApplied, "")
}

// apply puts a verified newer config in force, on trial.
func (r *Remote) apply(ctx context.Context, out func(telemetry.Sample), s *fwconfig.Signed) error {
	if r.stateErr != nil {
		return fmt.Errorf("not applied: %w", r.stateErr)
	}
	// Verify parsed it under a placeholder name; parse again as the file it
	// becomes, so profile_dirs and key paths resolve beside it.
	g, err := fwconfig.ParseGateway(r.cfg.File, s.Config)
	if err != nil {
		return err
	}
	if why := needsRestart(r.cfg, g); why != "" {
		return errors.New("needs restart: " + why)
	}
	key, err := LoadKey(g)
	if err != nil {
		return err
	}
	// A push on top of one still on trial rolls back to the last config
	// that proved itself, not to the untried one.
	t := &trial{version: g.Version, prev: r.cfg, prevRaw: r.raw, deadline: r.o.Now().Add(g.Remote.RollbackAfter.Duration)}
	if r.trial != nil {
		t.prev, t.prevRaw = r.trial.prev, r.trial.prevRaw
	}
	// The trial is on record before anything changes, so a restart at any
	// point after resumes it (or finds the file unchanged and drops it).
	onTrial := r.state.Trial
	r.state.Trial = &trialState{Version: g.Version, From: t.prev.Version, Since: r.o.Now().UTC()}
	if err := r.state.save(); err != nil {
		r.state.Trial = onTrial
		return fmt.Errorf("trial of version %d not recorded: %w", g.Version, err)
	}
	// Then the files: if they cannot be written nothing has changed, and a
	// restart comes back with what runs.
	err = atomicfile.WriteLike(r.cfg.File+".prev", t.prevRaw, r.cfg.File, 0o600)
	if err == nil {
		err = atomicfile.Write(r.cfg.File, s.Config, 0o600)
	}
	if err != nil {
		r.state.Trial = onTrial
		if serr := r.state.save(); serr != nil {
			r.log.Error("remote config state not saved", "error", serr)
		}
		return err
	}
	r.trial = t
	from := r.cfg.Version
	r.swap(ctx, out, g, s.Config)
	r.key = key
	r.log.Info("config applied", "version", g.Version, "from", from, "devices", len(g.Devices), "rollback_after", g.Remote.RollbackAfter.Duration)
	return nil
}

// checkTrial confirms the config on trial once a device answers, or rolls
// it back when none did by the deadline.
func (r *Remote) checkTrial(ctx context.Context, out func(telemetry.Sample)) {
	if r.trial == nil {
		return
	}
	for _, st := range r.States() {
		if st.State == poll.Online {
			r.log.Info("config confirmed: a device answers", "version", r.trial.version)
			r.trial = nil
			r.state.Trial = nil
			if err := r.state.save(); err != nil {
				// A restart would put the confirmed config on trial again.
				r.log.Error("remote config state not saved", "error", err)
			}
			return
		}
	}
	if r.o.Now().Before(r.trial.deadline) {
		return
	}
	t := r.trial
	r.trial = nil
	reason := fmt.Sprintf("no device answered within %s of applying version %d", r.cfg.Remote.RollbackAfter, t.version)
	// Recorded first: from now on this version is never applied again,
	// in this process (the state is in memory) and, once saved, after a
	// restart too.
	r.state.rollBack(t.version, r.o.Now(), reason)
	if err := r.state.save(); err != nil {
		r.log.Error("rollback not recorded: after a restart the retained config could be tried again", "version", t.version, "error", err)
		reason += "; not recorded: " + err.Error()
	}
	if err := atomicfile.Write(r.cfg.File, t.prevRaw, 0o600); err != nil {
		// The previous config runs again all the same; a restart would
		// bring the failed one back, so say so loudly.
		r.log.Error("rolled back, but the config file was not restored", "error", err)
		reason += "; config file not restored: " + err.Error()
	}
	r.swap(ctx, out, t.prev, t.prevRaw)
	if k, err := LoadKey(t.prev); err == nil {
		r.key = k
	}
	r.log.Warn("config rolled back", "version", t.version, "running", t.prev.Version, "reason", reason)
	r.ack(telemetry.ConfigAck{V: telemetry.Version, Gateway: r.cfg.Gateway, Version: t.version, Running: t.prev.Version,
		Status: telemetry.ConfigRolledBack, Reason: reason, TS: r.o.Now().UnixMilli()})
}

func (r *Remote) reject(version int, reason string) {
	r.log.Warn("config rejected", "version", version, "running", r.cfg.Version, "reason", reason)
	r.answer(version, telemetry.ConfigRejected, reason)
}

// answer publishes the verdict on a push.
func (r *Remote) answer(version int, status, reason string) {
	r.ack(telemetry.ConfigAck{V: telemetry.Version, Gateway: r.cfg.Gateway, Version: version, Running: r.cfg.Version,
		Status: status, Reason: reason, TS: r.o.Now().UnixMilli()})
}

// ack publishes on config/ack at QoS 1, not retained: an ack answers one
// push; a retained one would answer the next subscriber's push too.
func (r *Remote) ack(a telemetry.ConfigAck) {
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
		case <-time.After(r.o.AckTimeout):
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
		om.CAFile != nm.CAFile || om.CertFile != nm.CertFile || om.KeyFile != nm.KeyFile || om.KeepAlive.Duration != nm.KeepAlive.Duration {
		what = append(what, "mqtt")
	}
	oq, nq := old.Queue, new.Queue
	// Values, not how they were written: a default and the same value
	// written out run the same.
	if oq.Dir != nq.Dir || oq.MaxBytes.Bytes != nq.MaxBytes.Bytes || oq.WriteBehind.Window.Duration != nq.WriteBehind.Window.Duration ||
		oq.Fsync.Window.Duration != nq.Fsync.Window.Duration || oq.Fsync.Always != nq.Fsync.Always ||
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
