// Package servicetest starts the real services the integration tests need —
// InfluxDB 1.8, Mosquitto and our own binaries — on free loopback ports in
// temporary directories, and stops them when the test ends.
//
// A missing service skips the test on a developer's machine, and fails it
// when CI=true, with the command that installs it.
package servicetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RepoRoot is the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// Missing reports a service that is not installed: a failure in CI, a skip
// elsewhere.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; install it with: %s", what, install)
	}
	t.Skipf("%s is not installed (install it with: %s)", what, install)
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Process is a child process whose output goes to a log file in the test's
// temporary directory (printed when the test fails).
type Process struct {
	Name string
	Args []string
	Env  []string
	Log  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartProcess runs name with args; it is stopped at the end of the test.
func StartProcess(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	p := &Process{Name: name, Args: args, Log: filepath.Join(t.TempDir(), filepath.Base(name)+".log")}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop(10 * time.Second)
		if t.Failed() {
			data, _ := os.ReadFile(p.Log)
			if len(data) > 8000 {
				data = data[len(data)-8000:]
			}
			t.Logf("--- tail of %s log (%s):\n%s", filepath.Base(p.Name), p.Log, data)
		}
	})
	return p
}

// Start (re)starts the process, appending to its log.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.Name, p.Args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		f.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// Pid is the process id of the running process (0 before Start), for
// tests that read /proc.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether the process has not exited.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits up to grace before SIGKILL.
func (p *Process) Stop(grace time.Duration) {
	p.signal(syscall.SIGTERM, grace)
}

// Kill sends SIGKILL, as a power loss or an OOM kill would.
func (p *Process) Kill() {
	p.signal(syscall.SIGKILL, 10*time.Second)
}

func (p *Process) signal(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-done:
	case <-time.After(grace):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// LogText returns the process's log so far.
func (p *Process) LogText() string {
	data, _ := os.ReadFile(p.Log)
	return string(data)
}

// WaitLog waits until the log contains s.
func (p *Process) WaitLog(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(p.LogText(), s) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not log %q within %s", filepath.Base(p.Name), s, timeout)
}

// WaitTCP waits until addr accepts connections.
func WaitTCP(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after %s", addr, timeout)
}

var buildMu sync.Mutex

// Build compiles the named commands (e.g. "gateway/cmd/gateway") into a
// temporary directory and returns their paths by base name. go build caches,
// so only the first test pays for it.
func Build(t testing.TB, pkgs ...string) map[string]string {
	t.Helper()
	return build(t, nil, pkgs)
}

// ProcStatus returns the lines of /proc/PID/status given in kB (VmHWM,
// VmRSS, RssAnon, RssFile...), in bytes; pid 0 is this process. Linux
// only: memory benchmarks measure the kernel's account of a process.
func ProcStatus(pid int) (map[string]int64, error) {
	path := "/proc/self/status"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if v, isKB := strings.CutSuffix(strings.TrimSpace(v), " kB"); ok && isKB {
			kb, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %s %q: %w", path, k, v, err)
			}
			m[k] = kb << 10
		}
	}
	if m["VmHWM"] == 0 {
		return nil, fmt.Errorf("%s: no VmHWM", path)
	}
	return m, nil
}

// BuildRelease builds like Build, with the flags of make release (static,
// stripped, -trimpath) for this machine: what a memory or size measurement
// must measure is the binary that ships.
func BuildRelease(t testing.TB, pkgs ...string) map[string]string {
	t.Helper()
	return build(t, []string{"-trimpath", "-ldflags=-s -w"}, pkgs)
}

// BuildVersion builds the packages as Build does, with main.version set
// to version (-ldflags -X), as a release is built: for tests of software
// updates, which need two builds that differ only in version.
func BuildVersion(t testing.TB, version string, pkgs ...string) map[string]string {
	t.Helper()
	return build(t, []string{"-ldflags=-X main.version=" + version}, pkgs)
}

func build(t testing.TB, flags, pkgs []string) map[string]string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	root := RepoRoot(t)
	dir := t.TempDir()
	out := map[string]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append(append([]string{"build", "-o", dir + "/"}, flags...), prefixed(pkgs)...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if flags != nil {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build %v: %v\n%s", pkgs, err, stderr.String())
	}
	for _, p := range pkgs {
		out[filepath.Base(p)] = filepath.Join(dir, filepath.Base(p))
	}
	return out
}

func prefixed(pkgs []string) []string {
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = "./" + p
	}
	return out
}

// Influx is a running InfluxDB 1.8.
type Influx struct {
	*Process
	URL    string
	Bucket string // "boilerwatch/autogen"
	Dir    string
}

// StartInflux runs .deps/bin/influxd (built by make deps) with Flux enabled
// on a free port, in a temporary data directory.
func StartInflux(t testing.TB) *Influx {
	t.Helper()
	return startInflux(t, false)
}

// StartInfluxAuth runs InfluxDB with authentication on and an admin user
// (user:password is then the token of its 2.x-compatible API).
func StartInfluxAuth(t testing.TB, user, password string) *Influx {
	t.Helper()
	in := startInflux(t, true)
	// With no user yet, 1.8 lets the first admin be created unauthenticated.
	form := url.Values{"q": {fmt.Sprintf("CREATE USER %q WITH PASSWORD '%s' WITH ALL PRIVILEGES", user, password)}}
	resp, err := http.PostForm(in.URL+"/query", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create influx user: %s", resp.Status)
	}
	return in
}

func startInflux(t testing.TB, auth bool) *Influx {
	t.Helper()
	bin := os.Getenv("BW_INFLUXD")
	if bin == "" {
		bin = filepath.Join(RepoRoot(t), ".deps", "bin", "influxd")
	}
	if _, err := os.Stat(bin); err != nil {
		Missing(t, "InfluxDB 1.8 ("+bin+")", "make deps")
	}
	dir := t.TempDir()
	port, rpc := FreePort(t), FreePort(t)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = "%[2]s/meta"
[data]
  dir = "%[2]s/data"
  wal-dir = "%[2]s/wal"
  query-log-enabled = false
  trace-logging-enabled = false
[coordinator]
  log-queries-after = "0s"
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:%[3]d"
  flux-enabled = true
  auth-enabled = %[4]t
  log-enabled = false
[continuous_queries]
  enabled = false
`, rpc, dir, port, auth)
	cfg := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	in := &Influx{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Bucket: "boilerwatch/autogen", Dir: dir}
	in.Process = StartProcess(t, bin, "-config", cfg)
	in.WaitReady(t, 60*time.Second)
	return in
}

// WriteLines writes line protocol (millisecond precision) into bucket
// through the HTTP API the collector uses, bypassing any client: the
// InfluxDB-alone limit of the drain benchmarks.
func (in *Influx) WriteLines(t testing.TB, bucket string, lines []byte) {
	t.Helper()
	resp, err := http.Post(in.URL+"/api/v2/write?bucket="+url.QueryEscape(bucket)+"&precision=ms", "text/plain", bytes.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("write to %s: %s %s", bucket, resp.Status, body)
	}
}

// WaitReady waits for /ping to answer.
func (in *Influx) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(in.URL + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("influxd at %s not ready after %s", in.URL, timeout)
}

// Mosquitto is a running Mosquitto broker.
type Mosquitto struct {
	*Process
	Addr string // host:port
	URL  string // tcp://host:port
	Conf string
}

// StartMosquitto runs Debian's mosquitto on a free port with the lines of
// extra appended to a minimal config (listener, anonymous access, logging).
func StartMosquitto(t testing.TB, extra string) *Mosquitto {
	t.Helper()
	bin := mosquittoBinary(t)
	dir := t.TempDir()
	port := FreePort(t)
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n", port)
	if os.Geteuid() == 0 {
		// As root mosquitto would switch to its own user, which cannot
		// write to the test's temporary directory.
		conf += "user root\n"
	}
	conf += strings.ReplaceAll(extra, "{{dir}}", dir)
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	m := &Mosquitto{Addr: addr, URL: "tcp://" + addr, Conf: path}
	m.Process = StartProcess(t, bin, "-c", path)
	WaitTCP(t, addr, 10*time.Second)
	return m
}

// DocBlocks returns the fenced code blocks of language lang in the
// repository file path (e.g. "README.md"), keyed by their first line, so
// tests can check that documented examples work.
func DocBlocks(t testing.TB, path, lang string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(RepoRoot(t), path))
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	var cur []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```"+lang:
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			if len(cur) > 0 {
				blocks[strings.TrimSpace(cur[0])] = strings.Join(cur, "\n") + "\n"
			}
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

// StartMosquittoConf runs mosquitto with exactly conf, after replacing
// {{dir}} with a temporary directory and {{port}} with a free loopback port,
// and waits until that port accepts connections.
func StartMosquittoConf(t testing.TB, conf string) *Mosquitto {
	t.Helper()
	bin := mosquittoBinary(t)
	dir := t.TempDir()
	port := FreePort(t)
	conf = strings.ReplaceAll(conf, "{{dir}}", dir)
	conf = strings.ReplaceAll(conf, "{{port}}", fmt.Sprint(port))
	if os.Geteuid() == 0 {
		conf = "user root\n" + conf
	}
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	m := &Mosquitto{Addr: addr, URL: "tcp://" + addr, Conf: path}
	m.Process = StartProcess(t, bin, "-c", path)
	WaitTCP(t, addr, 10*time.Second)
	return m
}

func mosquittoBinary(t testing.TB) string {
	t.Helper()
	if bin, err := exec.LookPath("mosquitto"); err == nil {
		return bin
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	Missing(t, "mosquitto", "apt-get install -y mosquitto (or make deps)")
	return ""
}

// PtyPair starts socat with two linked pseudo-terminals in raw mode — a
// null-modem cable between two serial ports — and returns their paths; it
// is stopped at the end of the test.
func PtyPair(t testing.TB) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("socat"); err != nil {
		Missing(t, "socat", "apt-get install -y socat (or make deps)")
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	cmd := exec.Command("socat", "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 200 {
		_, ea := os.Stat(a)
		_, eb := os.Stat(b)
		if ea == nil && eb == nil {
			return a, b
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("socat made no pseudo-terminals within 2 s")
	return "", ""
}
