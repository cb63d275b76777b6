package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
)

const target = "linux/arm64"

// memFetcher serves a binary from memory; failAt makes a read fail once
// the offset reaches it (a 4G link dropping), once.
type memFetcher struct {
	data    []byte
	failAt  int64
	offsets []int64
}

func (m *memFetcher) Fetch(_ context.Context, _ string, offset int64) (io.ReadCloser, error) {
	m.offsets = append(m.offsets, offset)
	r := io.Reader(bytes.NewReader(m.data[offset:]))
	if m.failAt > offset {
		r = io.MultiReader(io.LimitReader(r, m.failAt-offset), errReader{})
		m.failAt = 0
	}
	return io.NopCloser(r), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// fakeClock is the trial's clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

// rig is a gateway binary in a folder and an operator's key.
type rig struct {
	t     *testing.T
	exe   string
	pub   ed25519.PublicKey
	priv  ed25519.PrivateKey
	clock *fakeClock
	fetch *memFetcher
}

func newRig(t *testing.T) *rig {
	dir := t.TempDir()
	exe := filepath.Join(dir, "boilerwatch-gateway")
	if err := os.WriteFile(exe, []byte("binary 1.0.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(nil)
	return &rig{t: t, exe: exe, pub: pub, priv: priv, clock: &fakeClock{time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)}, fetch: &memFetcher{}}
}

// release signs data as version.
func (g *rig) release(version string, data []byte, key ed25519.PrivateKey) []byte {
	sum := sha256.Sum256(data)
	r := fwconfig.Release{Version: version, Target: target, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), URL: "https://updates.example/gw"}
	r.Sign(key)
	g.fetch.data = data
	out, _ := json.Marshal(r)
	return out
}

// updater is the gateway process running version: a new process each
// call, with only the disk shared, as after a restart.
func (g *rig) updater(running string) *Updater {
	g.t.Helper()
	u, err := New(Options{Executable: g.exe, Running: running, Target: target, Key: g.pub, Fetcher: g.fetch,
		HealthyWithin: time.Minute, Now: g.clock.Now})
	if err != nil {
		g.t.Fatal(err)
	}
	return u
}

func (g *rig) exeIs(want string) {
	g.t.Helper()
	got, err := os.ReadFile(g.exe)
	if err != nil || string(got) != want {
		g.t.Fatalf("executable holds %q (%v), want %q", got, err, want)
	}
}

func (g *rig) install(u *Updater, payload []byte) error {
	g.t.Helper()
	r, err := u.Verify(payload)
	if err != nil {
		return err
	}
	return u.Install(context.Background(), r, func(int64) {})
}

func TestUpdateHealthy(t *testing.T) {
	g := newRig(t)
	payload := g.release("1.1.0", []byte("binary 1.1.0"), g.priv)
	old := g.updater("1.0.0")
	if tr, err := old.Boot(); tr != nil || err != nil {
		t.Fatalf("Boot without a trial: %v %v", tr, err)
	}
	if err := g.install(old, payload); !errors.Is(err, ErrRestart) {
		t.Fatalf("Install: %v, want ErrRestart", err)
	}
	g.exeIs("binary 1.1.0")
	if prev, _ := os.ReadFile(g.exe + ".prev"); string(prev) != "binary 1.0.0" {
		t.Fatalf("previous binary %q", prev)
	}
	if fi, err := os.Stat(g.exe); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("new executable's mode: %v %v", fi.Mode(), err)
	}
	nu := g.updater("1.1.0")
	tr, err := nu.Boot()
	if err != nil || tr == nil || tr.Version != "1.1.0" || !tr.Deadline.Equal(g.clock.t.Add(time.Minute)) {
		t.Fatalf("Boot of the new binary: %+v %v", tr, err)
	}
	if err := nu.Healthy(); err != nil {
		t.Fatal(err)
	}
	g.clock.t = g.clock.t.Add(time.Hour)
	if err := nu.CheckDeadline(tr); err != nil {
		t.Fatalf("deadline after healthy: %v", err)
	}
	// Restarted later: no trial, and the retained announcement is old news.
	again := g.updater("1.1.0")
	if tr, err := again.Boot(); tr != nil || err != nil {
		t.Fatalf("Boot after healthy: %v %v", tr, err)
	}
	if _, err := again.Verify(payload); !errors.Is(err, fwconfig.ErrDowngrade) {
		t.Fatalf("the installed release again: %v, want ErrDowngrade", err)
	}
	g.exeIs("binary 1.1.0")
}

func TestUpdateRollback(t *testing.T) {
	for _, tc := range []struct {
		name string
		// fail is what the new binary does on trial; it returns the error
		// that ends it.
		fail func(g *rig, tr *Trial, u *Updater) error
		why  string
	}{
		{"crashes on start", func(g *rig, _ *Trial, _ *Updater) error {
			_, err := g.updater("1.1.0").Boot() // systemd starts it again
			return err
		}, "stopped before it was healthy"},
		{"never healthy", func(g *rig, tr *Trial, u *Updater) error {
			g.clock.t = g.clock.t.Add(59 * time.Second)
			if err := u.CheckDeadline(tr); err != nil {
				return fmt.Errorf("rolled back before the deadline: %w", err)
			}
			g.clock.t = g.clock.t.Add(time.Second)
			return u.CheckDeadline(tr)
		}, "not connected and polling within 1m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t)
			payload := g.release("1.1.0", []byte("binary 1.1.0"), g.priv)
			if err := g.install(g.updater("1.0.0"), payload); !errors.Is(err, ErrRestart) {
				t.Fatal(err)
			}
			u := g.updater("1.1.0")
			tr, err := u.Boot()
			if tr == nil || err != nil {
				t.Fatalf("Boot: %v %v", tr, err)
			}
			if err := tc.fail(g, tr, u); !errors.Is(err, ErrRestart) {
				t.Fatalf("failed trial: %v, want ErrRestart", err)
			}
			g.exeIs("binary 1.0.0")
			back := g.updater("1.0.0")
			if tr, err := back.Boot(); tr != nil || err != nil {
				t.Fatalf("Boot of the restored binary: %v %v", tr, err)
			}
			if v, why, _, ok := back.unreportedRollback(); !ok || v != "1.1.0" || !strings.Contains(why, tc.why) {
				t.Errorf("unreportedRollback: %s %q %v, want 1.1.0 %q", v, why, ok, tc.why)
			}
			// The retained announcement comes again: never installed twice.
			if _, err := back.Verify(payload); !errors.Is(err, ErrRolledBack) {
				t.Fatalf("a rolled-back release again: %v, want ErrRolledBack", err)
			}
			// A fixed build signed anew is installed.
			fixed := g.release("1.1.1", []byte("binary 1.1.1"), g.priv)
			if err := g.install(back, fixed); !errors.Is(err, ErrRestart) {
				t.Fatalf("the fixed release: %v", err)
			}
			g.exeIs("binary 1.1.1")
		})
	}
}

// A power cut after each step of the switch ends in the old binary (and
// the retained announcement installs it again) or the new one on trial.
func TestUpdatePowerCut(t *testing.T) {
	for _, tc := range []struct {
		step    string
		comesUp string // the binary systemd starts after the cut
	}{
		{"download", "1.0.0"},
		{"trial", "1.0.0"},
		{"link", "1.0.0"},
		{"rename", "1.1.0"},
	} {
		t.Run(tc.step, func(t *testing.T) {
			g := newRig(t)
			payload := g.release("1.1.0", []byte("binary 1.1.0"), g.priv)
			u := g.updater("1.0.0")
			u.cut = func(step string) bool { return step == tc.step }
			if err := g.install(u, payload); !errors.Is(err, errCut) {
				t.Fatalf("Install: %v, want the cut", err)
			}
			g.exeIs("binary " + tc.comesUp)
			up := g.updater(tc.comesUp)
			tr, err := up.Boot()
			if err != nil {
				t.Fatalf("Boot after the cut: %v", err)
			}
			if tc.comesUp == "1.0.0" {
				if tr != nil {
					t.Fatalf("the old binary is on trial: %+v", tr)
				}
				fetches := len(g.fetch.offsets)
				if err := g.install(up, payload); !errors.Is(err, ErrRestart) {
					t.Fatalf("Install after the cut: %v", err)
				}
				if len(g.fetch.offsets) != fetches {
					t.Errorf("the verified download was fetched again")
				}
				g.exeIs("binary 1.1.0")
				up = g.updater("1.1.0")
				if tr, err = up.Boot(); err != nil {
					t.Fatal(err)
				}
			}
			if tr == nil || tr.Version != "1.1.0" {
				t.Fatalf("the new binary is not on trial: %+v", tr)
			}
			// And a cut during the trial rolls back at the next start.
			if _, err := g.updater("1.1.0").Boot(); !errors.Is(err, ErrRestart) {
				t.Fatalf("restart during the trial: %v, want ErrRestart", err)
			}
			g.exeIs("binary 1.0.0")
		})
	}
}

func TestUpdateRefused(t *testing.T) {
	g := newRig(t)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	for _, tc := range []struct {
		name    string
		payload []byte
		want    error
	}{
		{"wrong signature", g.release("1.1.0", []byte("binary 1.1.0"), otherKey), fwconfig.ErrBadSignature},
		{"downgrade", g.release("0.9.0", []byte("binary 0.9.0"), g.priv), fwconfig.ErrDowngrade},
		{"not json", []byte("binary"), fwconfig.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := g.install(g.updater("1.0.0"), tc.payload); !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
			g.exeIs("binary 1.0.0")
		})
	}
	r := fwconfig.Release{Version: "1.1.0", Target: "linux/amd64", Size: 1, SHA256: strings.Repeat("0", 64), URL: "https://u/g"}
	r.Sign(g.priv)
	other, _ := json.Marshal(r)
	if err := g.install(g.updater("1.0.0"), other); !errors.Is(err, fwconfig.ErrWrongTarget) {
		t.Fatalf("other target: %v", err)
	}
}

func TestDownloadCorrupt(t *testing.T) {
	g := newRig(t)
	payload := g.release("1.1.0", []byte("binary 1.1.0"), g.priv)
	g.fetch.data = []byte("binary 6.6.6") // same size, other bytes
	u := g.updater("1.0.0")
	if err := g.install(u, payload); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Install: %v, want ErrCorrupt", err)
	}
	g.exeIs("binary 1.0.0")
	for _, f := range []string{".part", ".part.json", ".new"} {
		if _, err := os.Stat(g.exe + f); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", f, err)
		}
	}
	if tr, err := g.updater("1.0.0").Boot(); tr != nil || err != nil {
		t.Fatalf("a trial after a corrupt download: %v %v", tr, err)
	}
	// The right bytes next time: installed.
	g.fetch.data = []byte("binary 1.1.0")
	if err := g.install(u, payload); !errors.Is(err, ErrRestart) {
		t.Fatal(err)
	}
}

// A download that breaks resumes from the last saved offset, with the
// hash state on disk, after a restart as well; bytes written after the
// last save are not trusted.
func TestDownloadResumes(t *testing.T) {
	g := newRig(t)
	data := make([]byte, 5*syncEvery+1234)
	for i := range data {
		data[i] = byte(i * 7)
	}
	payload := g.release("1.1.0", data, g.priv)
	g.fetch.failAt = 2*syncEvery + 100
	var seen []int64
	u := g.updater("1.0.0")
	r, err := u.Verify(payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Install(context.Background(), r, func(n int64) { seen = append(seen, n) }); err == nil || errors.Is(err, ErrRestart) {
		t.Fatalf("Install over a broken link: %v", err)
	}
	if last := seen[len(seen)-1]; last != 2*syncEvery+100 {
		t.Fatalf("progress at the break %d, want %d", last, 2*syncEvery+100)
	}
	// Garbage after the saved offset, as a power cut leaves unsynced data.
	f, _ := os.OpenFile(g.exe+".part", os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("garbage after the last save"))
	f.Close()
	if err := g.install(g.updater("1.0.0"), payload); !errors.Is(err, ErrRestart) {
		t.Fatalf("resumed Install: %v", err)
	}
	if want := []int64{0, 2*syncEvery + 100}; fmt.Sprint(g.fetch.offsets) != fmt.Sprint(want) {
		t.Errorf("fetched from %v, want %v", g.fetch.offsets, want)
	}
	got, _ := os.ReadFile(g.exe)
	if !bytes.Equal(got, data) {
		t.Fatal("the installed binary differs from the release")
	}
}

// HTTPFetcher resumes with a range request; a server that ignores ranges
// works too.
func TestHTTPFetcher(t *testing.T) {
	data := []byte("0123456789abcdef")
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"ranges", func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "gw", time.Time{}, bytes.NewReader(data))
		}},
		{"no ranges", func(w http.ResponseWriter, r *http.Request) { w.Write(data) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			body, err := HTTPFetcher{}.Fetch(context.Background(), srv.URL+"/gw", 10)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(body)
			body.Close()
			if string(got) != "abcdef" {
				t.Fatalf("from offset 10: %q", got)
			}
		})
	}
	// A server that stalls mid-body: the fetch ends after Idle, saying so.
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write([]byte("0123456789"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer stall.Close()
	body, err := HTTPFetcher{Idle: 200 * time.Millisecond}.Fetch(context.Background(), stall.URL, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(body)
	body.Close()
	if string(got) != "0123456789" || err == nil || !strings.Contains(err.Error(), "nothing received for 200ms") {
		t.Fatalf("stalled download: %q, %v", got, err)
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	if _, err := (HTTPFetcher{}).Fetch(context.Background(), srv.URL, 0); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("404: %v", err)
	}
}
