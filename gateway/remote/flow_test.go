package remote

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/poll"
	"github.com/boilerwatch/boilerwatch/gateway/publish"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// fakeSite polls nothing; its one device is online when online says so.
type fakeSite struct {
	version int
	online  *atomic.Bool
}

func (s *fakeSite) Run(ctx context.Context, _ func(telemetry.Sample)) { <-ctx.Done() }

func (s *fakeSite) States() map[string]telemetry.DeviceState {
	st := "offline"
	if s.online.Load() {
		st = poll.Online
	}
	return map[string]telemetry.DeviceState{"boiler1": {State: st}}
}

// fakeLink records the acks the controller publishes.
type fakeLink struct {
	mu      sync.Mutex
	acks    []telemetry.ConfigAck
	handler func([]byte, bool)
}

func (l *fakeLink) Subscribe(_ string, _ byte, h func([]byte, bool)) error {
	l.handler = h
	return nil
}

type doneToken struct{}

func (doneToken) Done() <-chan struct{} { c := make(chan struct{}); close(c); return c }
func (doneToken) Error() error          { return nil }

func (l *fakeLink) PublishOn(_ string, _ byte, retained bool, payload []byte) publish.Completion {
	var a telemetry.ConfigAck
	json.Unmarshal(payload, &a)
	if retained {
		a.Reason = "RETAINED ACK: " + a.Reason
	}
	l.mu.Lock()
	l.acks = append(l.acks, a)
	l.mu.Unlock()
	return doneToken{}
}

// take returns the acks since the last take.
func (l *fakeLink) take() []telemetry.ConfigAck {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.acks
	l.acks = nil
	return a
}

// rig is one gateway's files and keys, and the controller running them;
// restart makes a new controller on the same files, as a new process.
type rig struct {
	t       *testing.T
	dir     string
	file    string
	key     ed25519.PrivateKey
	now     time.Time
	online  atomic.Bool
	link    *fakeLink
	r       *Remote
	ctx     context.Context
	running int // the version of the running site
}

const site, gw = "plant-a", "gw-01"

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	priv, pub, err := fwconfig.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	writeMode(t, filepath.Join(dir, "op.pub"), string(pub), 0o644)
	writeMode(t, filepath.Join(dir, "op.key"), string(priv), 0o600)
	key, err := fwconfig.LoadPrivateKey(filepath.Join(dir, "op.key"))
	if err != nil {
		t.Fatal(err)
	}
	g := &rig{t: t, dir: dir, file: filepath.Join(dir, "gateway.yaml"), key: key, now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	if err := os.Mkdir(filepath.Join(dir, "queue"), 0o700); err != nil {
		t.Fatal(err)
	}
	// The operator's mode: the file names addresses and secrets' places.
	writeMode(t, g.file, g.config(1, ""), 0o640)
	g.start()
	return g
}

func (g *rig) config(version int, extra string) string {
	return fmt.Sprintf(`version: %d
site: %s
gateway: %s
mqtt: {broker: "tcp://127.0.0.1:1883"}
queue: {dir: %s}
remote_config: {public_key: op.pub, rollback_after: 1m}
devices:
  - {name: boiler1, profile: szl-chain-grate-plc, address: "127.0.0.1:1502", unit_id: 1, interval: 1s}
%s`, version, site, gw, filepath.Join(g.dir, "queue"), extra)
}

// signed is config(version, extra) as fwconfig sign writes it.
func (g *rig) signed(version int, extra string) []byte {
	g.t.Helper()
	s, err := fwconfig.Sign("gw.yaml", []byte(g.config(version, extra)), g.key)
	if err != nil {
		g.t.Fatal(err)
	}
	out, _ := json.Marshal(s)
	return out
}

// start loads the config file and starts a controller, as the gateway
// process does.
func (g *rig) start() {
	g.t.Helper()
	cfg, err := fwconfig.LoadGateway(g.file)
	if err != nil {
		g.t.Fatal(err)
	}
	newSite := func(c *fwconfig.Gateway) Site { return &fakeSite{version: c.Version, online: &g.online} }
	g.r, err = New(cfg, newSite(cfg), Options{NewSite: newSite, Now: func() time.Time { return g.now },
		OnVersion: func(v int) { g.running = v }})
	if err != nil {
		g.t.Fatal(err)
	}
	g.running = cfg.Version
	g.link = &fakeLink{}
	if err := g.r.OnConnect(g.link); err != nil {
		g.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.t.Cleanup(cancel)
	g.ctx = ctx
	g.r.start(ctx, func(telemetry.Sample) {})
	g.t.Cleanup(g.r.stop)
}

// push delivers payload as the broker would, and returns the acks.
func (g *rig) push(payload []byte, retained bool) []telemetry.ConfigAck {
	g.r.handle(g.ctx, func(telemetry.Sample) {}, pushed{payload, retained})
	return g.link.take()
}

// after lets d pass and checks the trial.
func (g *rig) after(d time.Duration) []telemetry.ConfigAck {
	g.now = g.now.Add(d)
	g.r.checkTrial(g.ctx, func(telemetry.Sample) {})
	return g.link.take()
}

func (g *rig) fileVersion() int {
	g.t.Helper()
	c, err := fwconfig.LoadGateway(g.file)
	if err != nil {
		g.t.Fatal(err)
	}
	return c.Version
}

func (g *rig) state() state {
	g.t.Helper()
	var s state
	data, err := os.ReadFile(StatePath(g.r.cfg))
	if err != nil {
		g.t.Fatal(err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		g.t.Fatal(err)
	}
	return s
}

// one checks that acks is one ack of version with status and a reason
// containing reason.
func one(t *testing.T, acks []telemetry.ConfigAck, version int, status, reason string) {
	t.Helper()
	if len(acks) != 1 || acks[0].Version != version || acks[0].Status != status || !strings.Contains(acks[0].Reason, reason) {
		t.Fatalf("acks %+v; want one %s of version %d, reason containing %q", acks, status, version, reason)
	}
}

func none(t *testing.T, acks []telemetry.ConfigAck) {
	t.Helper()
	if len(acks) != 0 {
		t.Fatalf("acks %+v; want none", acks)
	}
}

// TestRolledBackNeverAgain: a version that was rolled back is refused
// whatever bytes carry it and after a restart, and its replays change
// nothing (each would be a polling outage until the next rollback).
func TestRolledBackNeverAgain(t *testing.T) {
	t.Parallel()
	g := newRig(t)
	v2 := g.signed(2, "")
	one(t, g.push(v2, false), 2, telemetry.ConfigApplied, "")
	if g.running != 2 || g.fileVersion() != 2 {
		t.Fatalf("running %d, file %d; want 2 after apply", g.running, g.fileVersion())
	}
	for _, f := range []string{g.file, g.file + ".prev"} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: %v %v; want 0640, the mode the operator gave the config", f, fi.Mode(), err)
		}
	}
	if tr := g.state().Trial; tr == nil || tr.Version != 2 || tr.From != 1 {
		t.Errorf("state trial %+v, want version 2 from 1", tr)
	}
	none(t, g.after(59*time.Second))
	one(t, g.after(2*time.Second), 2, telemetry.ConfigRolledBack, "no device answered")
	if g.running != 1 || g.fileVersion() != 1 {
		t.Fatalf("running %d, file %d; want 1 after rollback", g.running, g.fileVersion())
	}
	if st := g.state(); st.Trial != nil || len(st.RolledBack) != 1 || st.RolledBack[0].Version != 2 {
		t.Errorf("state %+v; want version 2 rolled back, no trial", st)
	}

	replays := []struct {
		name     string
		payload  []byte
		retained bool
		reason   string // "": no answer
	}{
		{"same envelope pushed again", v2, false, "version 2 was rolled back"},
		{"same version signed again with other content", g.signed(2, "# changed\n"), false, "version 2 was rolled back"},
		{"with a space", []byte(strings.Replace(string(v2), `,"gateway"`, `, "gateway"`, 1)), false, "canonical"},
		{"with an unsigned key", []byte(`{"nonce":7,` + string(v2[1:])), false, `unsigned key "nonce"`},
		{"retained copy at reconnect", v2, true, ""},
	}
	for _, restarted := range []bool{false, true} {
		if restarted {
			g.start()
		}
		for _, tc := range replays {
			t.Run(fmt.Sprintf("%s/restarted=%v", tc.name, restarted), func(t *testing.T) {
				acks := g.push(tc.payload, tc.retained)
				if tc.reason == "" {
					none(t, acks)
				} else {
					one(t, acks, 2, telemetry.ConfigRejected, tc.reason)
				}
				if g.running != 1 || g.fileVersion() != 1 || g.r.trial != nil {
					t.Errorf("running %d, file %d, trial %v; want 1 untouched", g.running, g.fileVersion(), g.r.trial)
				}
			})
		}
	}
	// A higher version is applied and, once a device answers, confirmed.
	one(t, g.push(g.signed(3, ""), false), 3, telemetry.ConfigApplied, "")
	g.online.Store(true)
	none(t, g.after(time.Second))
	if g.r.trial != nil || g.state().Trial != nil {
		t.Errorf("trial %v, state %+v; want confirmed", g.r.trial, g.state().Trial)
	}
	none(t, g.after(time.Hour))
	if g.running != 3 {
		t.Errorf("running %d, want 3 confirmed", g.running)
	}
}

// TestDuplicates: pushes are told apart by signed (site, gateway, version);
// a retained copy redelivered at a reconnect is not answered twice, a live
// push always is (fwconfig push waits for it).
func TestDuplicates(t *testing.T) {
	t.Parallel()
	g := newRig(t)
	g.online.Store(true)
	v1 := g.signed(1, "")
	v2 := g.signed(2, "")
	restart := func() []byte {
		c := strings.Replace(g.config(3, ""), "queue: {dir: ", "queue: {dir: "+g.dir+"/other", 1)
		s, err := fwconfig.Sign("gw.yaml", []byte(c), g.key)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(s)
		return out
	}()
	forged := func() []byte {
		var s fwconfig.Signed
		json.Unmarshal(g.signed(4, ""), &s)
		s.Signature[0] ^= 1
		out, _ := json.Marshal(s)
		return out
	}()
	tests := []struct {
		name     string
		payload  []byte
		retained bool
		status   string // "": no answer
		reason   string
		running  int
	}{
		{"retained copy of the running config", v1, true, "", "", 1},
		{"live push of the running config", v1, false, telemetry.ConfigApplied, "already running", 1},
		{"running version, other content", g.signed(1, "# changed\n"), false, telemetry.ConfigRejected, "not newer", 1},
		{"newer", v2, false, telemetry.ConfigApplied, "", 2},
		{"newer again, retained", v2, true, "", "", 2},
		{"newer again, live", v2, false, telemetry.ConfigApplied, "already running", 2},
		{"older, live", v1, false, telemetry.ConfigRejected, "not newer", 2},
		{"older, retained", v1, true, "", "", 2},
		{"needs restart", restart, false, telemetry.ConfigRejected, "needs restart: queue changed", 2},
		{"needs restart, retained copy at reconnect", restart, true, "", "", 2},
		{"needs restart, pushed again", restart, false, telemetry.ConfigRejected, "needs restart", 2},
		// Fixed and signed again under the same version, pushed while the
		// gateway was away: another push, not the rejected one.
		{"needs restart, fixed, retained", g.signed(3, ""), true, telemetry.ConfigApplied, "", 3},
		{"bad signature, live", forged, false, telemetry.ConfigRejected, "signature does not verify", 3},
		{"bad signature, retained copy at reconnect", forged, true, "", "", 3},
		{"bad signature, live again", forged, false, telemetry.ConfigRejected, "signature does not verify", 3},
		// A forged envelope claiming version 4 does not stand for it.
		{"newer after a forgery of it", g.signed(4, ""), true, telemetry.ConfigApplied, "", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acks := g.push(tc.payload, tc.retained)
			if tc.status == "" {
				none(t, acks)
			} else if len(acks) != 1 || acks[0].Status != tc.status || !strings.Contains(acks[0].Reason, tc.reason) {
				t.Errorf("acks %+v; want one %s with %q", acks, tc.status, tc.reason)
			}
			if g.running != tc.running {
				t.Errorf("running %d, want %d", g.running, tc.running)
			}
			g.after(time.Second) // confirms any trial: a device answers
		})
	}
}

// writeMode writes a file with exactly mode, past the umask.
func writeMode(t *testing.T, path, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
