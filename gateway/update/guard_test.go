package update

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// switched installs 1.1.0 over 1.0.0: the new binary is on trial and has
// not started yet.
func (g *rig) switched() []byte {
	g.t.Helper()
	payload := g.release("1.1.0", []byte("binary 1.1.0"), g.priv)
	if err := g.install(g.updater("1.0.0"), payload); !errors.Is(err, ErrRestart) {
		g.t.Fatalf("Install: %v, want ErrRestart", err)
	}
	return payload
}

// The starts of a new binary, each one a process of its own: the guard run
// from EXE.prev before it (as the systemd drop-in does), its Boot, its
// report of health. Whether the guard runs or not, every start is counted
// once, and a second start with the trial standing rolls back.
func TestUpdateGuard(t *testing.T) {
	for _, tc := range []struct {
		name string
		// steps: "guard" (EXE.prev's Guard before a start), "boot" (the new
		// binary's Boot), "healthy" (the binary that booted last is).
		steps []string
		// why is in the rollback's reason; "": no rollback.
		why string
	}{
		{"dies before main", []string{"guard", "guard"}, "started 2 times, it never took up its trial"},
		{"dies after boot", []string{"guard", "boot", "guard"}, "stopped before it was healthy (started 2026-12-04T03:00:00Z)"},
		{"guard and boot count one start", []string{"guard", "boot"}, ""},
		{"healthy", []string{"guard", "boot", "healthy", "guard", "boot", "guard", "boot"}, ""},
		{"no guard", []string{"boot", "boot"}, "stopped before it was healthy (started"},
		{"guard gone after a start", []string{"guard", "boot", "boot"}, "stopped before it was healthy (started"},
		{"guard added after a start", []string{"boot", "guard"}, "stopped before it was healthy (started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t)
			payload := g.switched()
			var booted *Updater
			var err error
			for i, step := range tc.steps {
				switch step {
				case "guard":
					err = g.updater("1.0.0").Guard()
				case "boot":
					booted = g.updater("1.1.0")
					_, err = booted.Boot()
				case "healthy":
					err = booted.Healthy()
				}
				last := i == len(tc.steps)-1
				if err != nil && !(last && tc.why != "" && errors.Is(err, ErrRestart)) {
					t.Fatalf("step %d (%s): %v", i+1, step, err)
				}
			}
			if tc.why == "" {
				g.exeIs("binary 1.1.0")
				return
			}
			if !errors.Is(err, ErrRestart) {
				t.Fatalf("last step: %v, want the rollback (ErrRestart)", err)
			}
			g.exeIs("binary 1.0.0")
			if _, err := os.Stat(g.exe + ".prev"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("EXE.prev after the rollback: %v, want it renamed over EXE", err)
			}
			back := g.updater("1.0.0")
			if tr, err := back.Boot(); tr != nil || err != nil {
				t.Fatalf("Boot of the restored binary: %v %v", tr, err)
			}
			if v, why, _, ok := back.unreportedRollback(); !ok || v != "1.1.0" || !strings.Contains(why, tc.why) {
				t.Errorf("unreportedRollback: %s %q %v, want 1.1.0 %q", v, why, ok, tc.why)
			}
			if _, err := back.Verify(payload); !errors.Is(err, ErrRolledBack) {
				t.Errorf("the rolled-back release again: %v, want ErrRolledBack", err)
			}
		})
	}
}

// The guard leaves alone what is not a new binary on trial, and writes
// nothing then.
func TestUpdateGuardNothingToDo(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(g *rig)
		exe   string // the executable after it
	}{
		{"no trial", func(*rig) {}, "binary 1.0.0"},
		{"healthy", func(g *rig) {
			g.switched()
			u := g.updater("1.1.0")
			if _, err := u.Boot(); err != nil {
				g.t.Fatal(err)
			}
			if err := u.Healthy(); err != nil {
				g.t.Fatal(err)
			}
		}, "binary 1.1.0"},
		{"no previous binary", func(g *rig) {
			g.switched()
			if err := os.Remove(g.exe + ".prev"); err != nil {
				g.t.Fatal(err)
			}
		}, "binary 1.1.0"},
		{"not switched (power cut before the rename)", func(g *rig) {
			u := g.updater("1.0.0")
			u.cut = func(step string) bool { return step == "link" }
			if err := g.install(u, g.release("1.1.0", []byte("binary 1.1.0"), g.priv)); !errors.Is(err, errCut) {
				g.t.Fatalf("Install: %v, want the cut", err)
			}
		}, "binary 1.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t)
			tc.setup(g)
			before, _ := os.ReadFile(g.exe + ".update.json")
			for range 3 { // as many starts as it likes
				if err := g.updater("1.0.0").Guard(); err != nil {
					t.Fatalf("Guard: %v", err)
				}
			}
			g.exeIs(tc.exe)
			if after, _ := os.ReadFile(g.exe + ".update.json"); !bytes.Equal(after, before) {
				t.Errorf("the guard changed the update state:\n%s\nwas:\n%s", after, before)
			}
		})
	}
}

// A trial whose first start a Boot recorded before starts were counted
// (started set, no count) is a start all the same.
func TestUpdateGuardCountsAnEarlierBoot(t *testing.T) {
	g := newRig(t)
	g.switched()
	u := g.updater("1.0.0")
	u.st.Trial.Started = g.clock.t
	if err := u.st.save(); err != nil {
		t.Fatal(err)
	}
	if err := g.updater("1.0.0").Guard(); !errors.Is(err, ErrRestart) {
		t.Fatalf("Guard: %v, want the rollback", err)
	}
	g.exeIs("binary 1.0.0")
}
