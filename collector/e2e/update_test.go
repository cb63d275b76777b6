package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
	"github.com/boilerwatch/boilerwatch/gateway/update"
)

// supervisor plays systemd's Restart=always for one executable path: it
// starts whatever binary is at the path again each time the process exits,
// after the remote-update drop-in's ExecStartPre: the update guard run
// from the previous binary, when there is one, its failure ignored.
type supervisor struct {
	mu     sync.Mutex
	exits  []int
	guards []int // the guard's exit codes
	cur    *exec.Cmd
	stop   chan struct{}
	done   chan struct{}
	log    string
}

func supervise(t *testing.T, exe string, args ...string) *supervisor {
	t.Helper()
	s := &supervisor{stop: make(chan struct{}), done: make(chan struct{}), log: filepath.Join(t.TempDir(), "gateway.log")}
	f, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	guard := guardCommand(t, exe)
	go func() {
		defer close(s.done)
		defer f.Close()
		for {
			if _, err := os.Stat(guard[0]); err == nil {
				g := exec.Command(guard[0], guard[1:]...)
				g.Stdout, g.Stderr = f, f
				g.Run()
				s.mu.Lock()
				s.guards = append(s.guards, g.ProcessState.ExitCode())
				s.mu.Unlock()
			}
			cmd := exec.Command(exe, args...)
			cmd.Stdout, cmd.Stderr = f, f
			if err := cmd.Start(); err != nil {
				t.Errorf("start %s: %v", exe, err)
				return
			}
			s.mu.Lock()
			s.cur = cmd
			s.mu.Unlock()
			cmd.Wait()
			s.mu.Lock()
			s.exits = append(s.exits, cmd.ProcessState.ExitCode())
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-time.After(200 * time.Millisecond): // RestartSec
			}
		}
	}()
	t.Cleanup(func() {
		close(s.stop)
		s.mu.Lock()
		if s.cur != nil && s.cur.Process != nil {
			s.cur.Process.Signal(syscall.SIGTERM)
		}
		s.mu.Unlock()
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			t.Error("gateway did not stop")
		}
		if t.Failed() {
			data, _ := os.ReadFile(s.log)
			if len(data) > 12000 {
				data = data[len(data)-12000:]
			}
			t.Logf("--- tail of the gateway log:\n%s", data)
		}
	})
	return s
}

// guardCommand is the remote-update drop-in's ExecStartPre for the
// gateway installed at exe: the drop-in's paths of the installed binary
// (its ExecStart's) and of its previous one become exe's.
func guardCommand(t *testing.T, exe string) []string {
	t.Helper()
	conf := mustRead(t, filepath.Join(servicetest.RepoRoot(t), "deploy", "systemd", "boilerwatch-gateway.service.d", "remote-update.conf"))
	var pre []string
	installed := ""
	for _, line := range strings.Split(string(conf), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStartPre=-"); ok {
			pre = strings.Fields(v)
		}
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok && v != "" {
			installed, _, _ = strings.Cut(v, " ")
		}
	}
	if len(pre) == 0 || installed == "" {
		t.Fatalf("remote-update.conf: no ExecStartPre=- guard (%q) or ExecStart (%q)", pre, installed)
	}
	for i, f := range pre {
		if rest, ok := strings.CutPrefix(f, installed); ok {
			pre[i] = exe + rest
		}
	}
	return pre
}

func (s *supervisor) guardCodes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.guards...)
}

// kill9 kills the running process with SIGKILL, as a power cut would end
// it, once its log has a line containing marker after the first skip
// bytes; it returns when it killed it.
func (s *supervisor) kill9(t *testing.T, skip int, marker string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(s.log)
		if len(data) > skip && bytes.Contains(data[skip:], []byte(marker)) {
			s.mu.Lock()
			err := s.cur.Process.Kill()
			s.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %q in the gateway log within %s", marker, timeout)
}

func (s *supervisor) logSize() int {
	fi, err := os.Stat(s.log)
	if err != nil {
		return 0
	}
	return int(fi.Size())
}

func (s *supervisor) exitCodes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.exits...)
}

// updateWatch records a gateway's update acks, telemetry seqs and the
// software version its status reports.
type updateWatch struct {
	mu      sync.Mutex
	acks    []telemetry.UpdateAck
	seqs    map[string]map[uint64]bool // by boot
	version string
}

func watchUpdates(t *testing.T, broker, gw string) (*updateWatch, mqtt.Client) {
	t.Helper()
	w := &updateWatch{seqs: map[string]map[uint64]bool{}}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("update-watcher"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	subs := map[string]mqtt.MessageHandler{
		telemetry.UpdateAckTopic(site, gw): func(_ mqtt.Client, m mqtt.Message) {
			var a telemetry.UpdateAck
			if err := json.Unmarshal(m.Payload(), &a); err != nil {
				t.Errorf("update ack %q: %v", m.Payload(), err)
				return
			}
			w.mu.Lock()
			w.acks = append(w.acks, a)
			w.mu.Unlock()
		},
		telemetry.SamplesTopic(site, gw): func(_ mqtt.Client, m mqtt.Message) {
			var msg telemetry.Message
			if json.Unmarshal(m.Payload(), &msg) == nil {
				w.mu.Lock()
				if w.seqs[msg.Boot] == nil {
					w.seqs[msg.Boot] = map[uint64]bool{}
				}
				w.seqs[msg.Boot][msg.Seq] = true
				w.mu.Unlock()
			}
		},
		telemetry.StatusTopic(site, gw): func(_ mqtt.Client, m mqtt.Message) {
			var st telemetry.Status
			if json.Unmarshal(m.Payload(), &st) == nil && st.State == "online" {
				w.mu.Lock()
				w.version = st.Version
				w.mu.Unlock()
			}
		},
	}
	for topic, h := range subs {
		if tok := c.Subscribe(topic, 1, h); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", topic, tok.Error())
		}
	}
	return w, c
}

// waitAck waits for an ack of release with status after the first mark acks.
func (w *updateWatch) waitAck(t *testing.T, mark int, release, status string, timeout time.Duration) telemetry.UpdateAck {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for _, a := range w.acks[mark:] {
			if a.Release == release && a.Status == status {
				w.mu.Unlock()
				return a
			}
		}
		w.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Fatalf("no %s ack for release %s within %s; acks: %+v", status, release, timeout, w.acks[mark:])
	return telemetry.UpdateAck{}
}

func (w *updateWatch) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acks)
}

func (w *updateWatch) samples() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, b := range w.seqs {
		n += len(b)
	}
	return n
}

// waitRunning waits until the status says version and new samples arrive.
func (w *updateWatch) waitRunning(t *testing.T, version string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		v := w.version
		w.mu.Unlock()
		n := w.samples()
		if v == version {
			for time.Now().Before(deadline) {
				if w.samples() >= n+2 {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("status version %q, want %s with samples flowing, within %s", v, version, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSoftwareUpdate updates a running gateway process through Mosquitto
// to a rebuilt binary fetched over HTTP, under a restart loop playing
// systemd: a release with a wrong signature and a corrupted download are
// refused and the gateway keeps running; the real update switches and
// reports updated from the new binary; a release that dies at start is
// rolled back by itself, and so are one killed (SIGKILL, as a power cut)
// while on trial and one that dies before its main runs (by the guard the
// drop-in runs from the previous binary). No queued sample is lost across
// the switches.
func TestSoftwareUpdate(t *testing.T) {
	t.Parallel()
	old := servicetest.BuildVersion(t, "1.0.0", "simulator/cmd/simulator", "gateway/cmd/gateway", "firmware-config/cmd/fwconfig")
	newer := servicetest.BuildVersion(t, "1.1.0", "gateway/cmd/gateway")["gateway"]
	crasher := servicetest.BuildVersion(t, "1.2.0", "collector/e2e/testdata/crashgw")["crashgw"]
	killed := servicetest.BuildVersion(t, "1.3.0", "gateway/cmd/gateway")["gateway"]
	diesEarly := servicetest.BuildVersion(t, "1.4.0", "collector/e2e/testdata/diesbeforemain")["diesbeforemain"]
	mq := servicetest.StartMosquitto(t, "")
	dir := t.TempDir()
	const gw = "gw-up"

	simAddr := freeAddr(t)
	startSim(t, old["simulator"], filepath.Join(dir, "scenario.yaml"), scenarioConfig{listen: simAddr, devices: []string{simBoiler}})

	// The release server: range requests (http.FileServer), loopback only.
	www := filepath.Join(dir, "www")
	copyFile := func(from, to string, corrupt bool) {
		t.Helper()
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if corrupt {
			data = bytes.Clone(data)
			data[len(data)/2] ^= 0xFF
		}
		os.MkdirAll(filepath.Dir(to), 0o755)
		if err := os.WriteFile(to, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(newer, filepath.Join(www, "gw-1.1.0"), false)
	copyFile(newer, filepath.Join(www, "corrupt", "gw-1.1.0"), true)
	copyFile(crasher, filepath.Join(www, "gw-1.2.0"), false)
	copyFile(killed, filepath.Join(www, "gw-1.3.0"), false)
	copyFile(diesEarly, filepath.Join(www, "gw-1.4.0"), false)
	srv := httptest.NewServer(http.FileServer(http.Dir(www)))
	t.Cleanup(srv.Close)

	fwCode := func(args ...string) (string, int) {
		t.Helper()
		out, err := exec.Command(old["fwconfig"], args...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatalf("fwconfig %v: %v", args, err)
		}
		return string(out), 0
	}
	fw := func(args ...string) string {
		t.Helper()
		out, code := fwCode(args...)
		if code != 0 {
			t.Fatalf("fwconfig %v: exit %d\n%s", args, code, out)
		}
		return out
	}
	for _, k := range []string{"operator.key", "other.key"} {
		fw("keygen", "-out", filepath.Join(dir, k))
	}
	// signFile signs the binary for url (the file served there may
	// differ) into a file; sign returns its content.
	signFile := func(binary, url, key string) string {
		t.Helper()
		out := filepath.Join(dir, fmt.Sprintf("release-%d.json", time.Now().UnixNano()))
		fw("release", "sign", "-key", filepath.Join(dir, key), "-url", srv.URL+url, "-out", out, binary)
		return out
	}
	sign := func(binary, url, key string) []byte { return mustRead(t, signFile(binary, url, key)) }
	// push announces with fwconfig release push and returns its report.
	push := func(signed string) (string, int) {
		t.Helper()
		return fwCode("release", "push", "-broker", mq.URL, "-site", site, "-wait", "60s", signed, gw)
	}

	// The installed gateway, 1.0.0, as the service runs it.
	exe := filepath.Join(dir, "bin", "boilerwatch-gateway")
	copyFile(old["gateway"], exe, false)
	cfg := write(t, filepath.Join(dir, "gateway.yaml"), gatewayConfig{version: 1, site: site, id: gw, broker: mq.URL,
		queueDir: filepath.Join(dir, "queue"), queue: "wait_for_collector: false", extra: "remote_config: {public_key: operator.key.pub}\n",
		devices: []string{gwBoiler(simAddr, 500*time.Millisecond)}}.yaml())
	w, client := watchUpdates(t, mq.URL, gw)
	sup := supervise(t, exe, "-config", cfg, "-update-healthy-within", "15s")
	w.waitRunning(t, "1.0.0", 30*time.Second)

	announce := func(payload []byte) {
		t.Helper()
		tok := client.Publish(telemetry.UpdateTopic(site, gw), 1, true, payload)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("announce: %v", tok.Error())
		}
	}

	t.Run("wrong signature", func(t *testing.T) {
		mark := w.mark()
		announce(sign(newer, "/gw-1.1.0", "other.key"))
		a := w.waitAck(t, mark, "1.1.0", telemetry.UpdateRejected, 20*time.Second)
		if !strings.Contains(a.Reason, "signature does not verify") || a.Running != "1.0.0" {
			t.Errorf("ack %+v", a)
		}
	})
	t.Run("corrupted download", func(t *testing.T) {
		mark := w.mark()
		announce(sign(newer, "/corrupt/gw-1.1.0", "operator.key"))
		a := w.waitAck(t, mark, "1.1.0", telemetry.UpdateFailed, 30*time.Second)
		if !strings.Contains(a.Reason, "does not match the signed sha256") || a.Running != "1.0.0" {
			t.Errorf("ack %+v", a)
		}
		w.waitRunning(t, "1.0.0", 10*time.Second)
	})
	t.Run("update", func(t *testing.T) {
		mark := w.mark()
		start := time.Now()
		out, code := push(signFile(newer, "/gw-1.1.0", "operator.key"))
		if code != 0 || !strings.Contains(out, gw+": updated (running 1.1.0)") || !strings.Contains(out, "ok: running 1.1.0") {
			t.Errorf("release push: exit %d\n%s", code, out)
		}
		w.waitAck(t, mark, "1.1.0", telemetry.UpdateSwitching, 60*time.Second)
		a := w.waitAck(t, mark, "1.1.0", telemetry.UpdateUpdated, 60*time.Second)
		if a.Running != "1.1.0" {
			t.Errorf("updated ack %+v: want running 1.1.0", a)
		}
		t.Logf("updated in %s", time.Since(start).Round(time.Millisecond))
		w.waitRunning(t, "1.1.0", 30*time.Second)
		if prev, err := os.ReadFile(exe + ".prev"); err != nil || !bytes.Equal(prev, mustRead(t, old["gateway"])) {
			t.Errorf("%s.prev is not the 1.0.0 binary: %v", exe, err)
		}
		if codes := sup.exitCodes(); len(codes) != 1 || codes[0] != update.ExitRestart {
			t.Errorf("exit codes %v, want one %d", codes, update.ExitRestart)
		}
	})
	t.Run("crashes on start", func(t *testing.T) {
		mark := w.mark()
		out, code := push(signFile(crasher, "/gw-1.2.0", "operator.key"))
		if code != 1 || !strings.Contains(out, "rolled_back: running 1.1.0") {
			t.Errorf("release push: exit %d, want 1\n%s", code, out)
		}
		w.waitAck(t, mark, "1.2.0", telemetry.UpdateSwitching, 60*time.Second)
		a := w.waitAck(t, mark, "1.2.0", telemetry.UpdateRolledBack, 60*time.Second)
		if a.Running != "1.1.0" || !strings.Contains(a.Reason, "stopped before it was healthy") {
			t.Errorf("rollback ack %+v", a)
		}
		w.waitRunning(t, "1.1.0", 30*time.Second)
		if !bytes.Equal(mustRead(t, exe), mustRead(t, newer)) {
			t.Error("the executable is not the 1.1.0 binary after the rollback")
		}
		// 75 (switch), 2 (the crash) after the update's 75; the guard
		// rolled back before its second start.
		if codes := fmt.Sprint(sup.exitCodes()); codes != "[75 75 2]" {
			t.Errorf("exit codes %s, want [75 75 2]", codes)
		}
	})

	t.Run("killed before healthy", func(t *testing.T) {
		// A power cut while the new binary is on trial: at its next start
		// the trial still stands, so the previous binary comes back.
		mark, logAt := w.mark(), sup.logSize()
		announce(sign(killed, "/gw-1.3.0", "operator.key"))
		sup.kill9(t, logAt, "new gateway binary on trial", 60*time.Second)
		a := w.waitAck(t, mark, "1.3.0", telemetry.UpdateRolledBack, 60*time.Second)
		if a.Running != "1.1.0" || !strings.Contains(a.Reason, "stopped before it was healthy") {
			t.Errorf("rollback ack %+v", a)
		}
		w.waitRunning(t, "1.1.0", 30*time.Second)
		if !bytes.Equal(mustRead(t, exe), mustRead(t, newer)) {
			t.Error("the executable is not the 1.1.0 binary after the rollback")
		}
		// After the crash test's: 75 (switch), -1 (SIGKILL).
		if codes := fmt.Sprint(sup.exitCodes()); codes != "[75 75 2 75 -1]" {
			t.Errorf("exit codes %s, want [75 75 2 75 -1]", codes)
		}
	})

	t.Run("dies before main", func(t *testing.T) {
		// It never reaches Boot: the guard run from the previous binary
		// before each start counts its starts and rolls it back.
		mark := w.mark()
		out, code := push(signFile(diesEarly, "/gw-1.4.0", "operator.key"))
		if code != 1 || !strings.Contains(out, "rolled_back: running 1.1.0") {
			t.Errorf("release push: exit %d, want 1\n%s", code, out)
		}
		a := w.waitAck(t, mark, "1.4.0", telemetry.UpdateRolledBack, 60*time.Second)
		if a.Running != "1.1.0" || !strings.Contains(a.Reason, "never took up its trial") {
			t.Errorf("rollback ack %+v", a)
		}
		w.waitRunning(t, "1.1.0", 30*time.Second)
		if !bytes.Equal(mustRead(t, exe), mustRead(t, newer)) {
			t.Error("the executable is not the 1.1.0 binary after the rollback")
		}
		// After the kill test's: 75 (switch), 2 (init's exit).
		if codes := fmt.Sprint(sup.exitCodes()); codes != "[75 75 2 75 -1 75 2]" {
			t.Errorf("exit codes %s, want [75 75 2 75 -1 75 2]", codes)
		}
		// The guard ran before each start of a new binary, twice for each
		// rollback, and never failed: 1.1.0's start, then two for each of
		// 1.2.0, 1.3.0 and 1.4.0.
		if codes := fmt.Sprint(sup.guardCodes()); codes != "[0 0 0 0 0 0 0]" {
			t.Errorf("guard exit codes %s, want [0 0 0 0 0 0 0]", codes)
		}
	})

	// No sample lost across the restarts: each process (boot) starts a new
	// block of seqs, and every seq of a block up to its last arrived.
	w.mu.Lock()
	defer w.mu.Unlock()
	// 1.0.0, 1.1.0, 1.1.0 after each rollback; 1.3.0 may have sent some
	// before it was killed.
	if n := len(w.seqs); n < 5 || n > 6 {
		t.Errorf("samples from %d boots, want 5 or 6", n)
	}
	for boot, seqs := range w.seqs {
		first, last := ^uint64(0), uint64(0)
		for s := range seqs {
			first, last = min(first, s), max(last, s)
		}
		if n := uint64(len(seqs)); n != last-first+1 || n < 2 {
			t.Errorf("boot %s: %d samples for seqs %d..%d", boot, n, first, last)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
