package remote

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

func TestStatePath(t *testing.T) {
	t.Parallel()
	tests := []struct{ queue, want string }{
		{"/var/lib/boilerwatch/queue", "/var/lib/boilerwatch/remote-config.plant-a.gw-01.json"},
		{"/var/lib/boilerwatch/queue/", "/var/lib/boilerwatch/remote-config.plant-a.gw-01.json"},
		{"queue", "remote-config.plant-a.gw-01.json"},
	}
	for _, tc := range tests {
		cfg := &fwconfig.Gateway{Site: "plant-a", Gateway: "gw-01", Queue: fwconfig.Queue{Dir: tc.queue}}
		if got := StatePath(cfg); got != tc.want {
			t.Errorf("StatePath(queue %q) = %q, want %q", tc.queue, got, tc.want)
		}
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	st := &state{RolledBack: []rolledBack{{Version: 5, At: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), Reason: "no device answered"}}}
	inForce := []byte("version: 4\n")
	notNewer := fmt.Errorf("%w: version 4, running 4", fwconfig.ErrNotNewer)
	tests := []struct {
		name   string
		s      fwconfig.Signed
		verr   error
		want   verdict
		reason string
	}{
		{"newer", fwconfig.Signed{Version: 6}, nil, apply, ""},
		{"running, same bytes", fwconfig.Signed{Version: 4, Config: inForce}, notNewer, running, "already running"},
		{"running version, other bytes", fwconfig.Signed{Version: 4, Config: []byte("version: 4\n# x\n")}, notNewer, replay, "not newer"},
		{"older", fwconfig.Signed{Version: 3}, fmt.Errorf("%w: version 3, running 4", fwconfig.ErrNotNewer), replay, "not newer"},
		{"rolled back", fwconfig.Signed{Version: 5}, nil, replay, "version 5 was rolled back at 2026-05-01T12:00:00Z (no device answered)"},
		{"rolled back and invalid", fwconfig.Signed{Version: 5}, errors.New("devices: missing"), replay, "rolled back"},
		{"invalid", fwconfig.Signed{Version: 6}, errors.New("devices: missing"), refuse, "devices: missing"},
		{"another gateway", fwconfig.Signed{Version: 5}, fmt.Errorf("%w: x", fwconfig.ErrNotForMe), refuse, "another gateway"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, reason := decide(&tc.s, tc.verr, inForce, st)
			if v != tc.want || !strings.Contains(reason, tc.reason) {
				t.Errorf("decide = %v, %q; want %v, %q", v, reason, tc.want, tc.reason)
			}
		})
	}
}

func TestStateFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	if st, err := loadState(path, "plant-a", "gw-01"); err != nil || len(st.RolledBack) != 0 || st.Trial != nil {
		t.Fatalf("missing file: %+v, %v; want an empty state", st, err)
	}
	st := &state{Site: "plant-a", Gateway: "gw-01", path: path}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for v := 1; v <= maxRolledBack+5; v++ {
		st.rollBack(v, at, "r")
	}
	st.rollBack(maxRolledBack+5, at, "again") // once only
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(path, "plant-a", "gw-01")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.RolledBack); n != maxRolledBack || got.RolledBack[0].Version != 6 || got.RolledBack[n-1].Version != maxRolledBack+5 {
		t.Errorf("%d rolled back, %d..%d; want the newest %d", n, got.RolledBack[0].Version, got.RolledBack[n-1].Version, maxRolledBack)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("state file mode %v, want 0640", fi.Mode().Perm())
	}
	tests := []struct {
		name, content, site, want string
	}{
		{"corrupt", "{", "plant-a", "unexpected end"},
		{"another gateway's", `{"site":"plant-b","gateway":"gw-01"}`, "plant-a", "is for plant-b/gw-01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			os.WriteFile(p, []byte(tc.content), 0o600)
			if _, err := loadState(p, tc.site, "gw-01"); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("loadState = %v, want an error naming %s and %q", err, p, tc.want)
			}
		})
	}
}

// TestUnreadableState: without its memory of rollbacks the gateway applies
// no push (a rolled-back version could run again), and polls on.
func TestUnreadableState(t *testing.T) {
	t.Parallel()
	g := newRig(t)
	cfg, _ := fwconfig.LoadGateway(g.file)
	if err := os.WriteFile(StatePath(cfg), []byte("not json"), 0o640); err != nil {
		t.Fatal(err)
	}
	g.start()
	one(t, g.push(g.signed(2, ""), false), 2, telemetry.ConfigRejected, "remote config state")
	if g.running != 1 || g.fileVersion() != 1 {
		t.Errorf("running %d, file %d; want 1", g.running, g.fileVersion())
	}
}

// TestTrialResumedAfterRestart: a gateway that restarts while a pushed
// config is on trial (crash, power cut, watchdog) still rolls it back when
// no device answers, instead of keeping an untried config for good.
func TestTrialResumedAfterRestart(t *testing.T) {
	t.Parallel()
	g := newRig(t)
	one(t, g.push(g.signed(2, ""), false), 2, telemetry.ConfigApplied, "")
	g.start() // the process restarts with version 2 in the file
	if g.r.trial == nil || g.r.trial.version != 2 || g.r.trial.prev.Version != 1 {
		t.Fatalf("trial %+v after restart; want version 2, back to 1", g.r.trial)
	}
	one(t, g.after(61*time.Second), 2, telemetry.ConfigRolledBack, "no device answered")
	if g.running != 1 || g.fileVersion() != 1 {
		t.Errorf("running %d, file %d; want 1", g.running, g.fileVersion())
	}
	g.start()
	if g.r.trial != nil {
		t.Errorf("trial %+v after rollback and restart, want none", g.r.trial)
	}
	one(t, g.push(g.signed(2, ""), false), 2, telemetry.ConfigRejected, "rolled back")

	// The operator changed the file by hand meanwhile: the trial recorded
	// is of a config that does not run, and is dropped.
	one(t, g.push(g.signed(3, ""), false), 3, telemetry.ConfigApplied, "")
	writeMode(t, g.file, g.config(7, ""), 0o640)
	g.start()
	if g.r.trial != nil || g.state().Trial != nil {
		t.Errorf("trial %+v, state %+v; want none for a config not in force", g.r.trial, g.state().Trial)
	}
}
