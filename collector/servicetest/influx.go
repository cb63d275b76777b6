package servicetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Influx is a running InfluxDB 1.8.
type Influx struct {
	*Process
	URL    string
	Bucket string // "boilerwatch/autogen"
	Dir    string

	port int  // HTTP, in URL
	auth bool // auth-enabled
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
	// With no user yet, 1.8 lets the first admin be created
	// unauthenticated. The user is then checked with its own login: a
	// test once found InfluxDB still without an admin right after a
	// successful CREATE USER.
	create := url.Values{"q": {fmt.Sprintf("CREATE USER %q WITH PASSWORD '%s' WITH ALL PRIVILEGES", user, password)}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := in.post(t, create, "", "")
		if status == http.StatusOK && !strings.Contains(body, `"error"`) {
			status, body = in.post(t, url.Values{"q": {"SHOW USERS"}}, user, password)
			if status == http.StatusOK && strings.Contains(body, fmt.Sprintf("[%q,true]", user)) {
				return in
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("create influx admin %s: %d %s", user, status, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// post sends an InfluxQL form to /query, with a basic login unless user
// is empty, and returns the status and body.
func (in *Influx) post(t testing.TB, form url.Values, user, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, in.URL+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(body)
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
	cfg := filepath.Join(dir, "influxdb.conf")
	in := &Influx{Process: newProcess(t, bin, "-config", cfg), Bucket: "boilerwatch/autogen", Dir: dir, auth: auth}
	influxStarts <- struct{}{}
	defer func() { <-influxStarts }()
	for attempt := 1; ; attempt++ {
		// The ports are picked in this start's turn: one found free before
		// waiting for it may be another process's by then.
		in.port = FreePort(t)
		in.URL = fmt.Sprintf("http://127.0.0.1:%d", in.port)
		err := in.startOn(FreePort(t))
		if err == nil {
			return in
		}
		// Another process can still take a port between FreePort and
		// influxd's bind.
		if attempt < 3 && in.portTaken() {
			continue
		}
		t.Fatal(err)
	}
}

// startOn writes the configuration with the RPC service on rpc and starts.
func (in *Influx) startOn(rpc int) error {
	if err := os.WriteFile(filepath.Join(in.Dir, "influxdb.conf"), []byte(influxConf(in.Dir, in.port, rpc, in.auth)), 0o644); err != nil {
		return err
	}
	return in.start()
}

// portTaken reports whether influxd exited because a port was in use.
func (in *Influx) portTaken() bool {
	return !in.Running() && strings.Contains(in.LogText(), "address already in use")
}

// influxConf is the configuration of an InfluxDB with its files in dir:
// HTTP (with Flux) on port, the RPC service on rpc, both on loopback.
func influxConf(dir string, port, rpc int, auth bool) string {
	return fmt.Sprintf(`reporting-disabled = true
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
}

// influxStarts lets one InfluxDB of a test binary start at a time. Each
// spends about 4 s of CPU building Flux's standard library before it
// answers (0.04 s without Flux); parallel tests starting theirs together
// on a 2-core machine kept every one from answering within a minute.
var influxStarts = make(chan struct{}, 1)

// Start (re)starts InfluxDB, appending to its log, and waits up to a
// minute for it to answer, once no other InfluxDB of the test binary is
// starting.
func (in *Influx) Start() error {
	influxStarts <- struct{}{}
	defer func() { <-influxStarts }()
	err := in.start()
	// Nobody but influxd uses its RPC port: one taken since the last
	// start is replaced. The HTTP port is the test's URL and stays.
	for attempt := 1; err != nil && attempt < 3 && in.portTaken(); attempt++ {
		rpc, ferr := freePort()
		if ferr != nil {
			return errors.Join(err, ferr)
		}
		err = in.startOn(rpc)
	}
	return err
}

func (in *Influx) start() error {
	if err := in.Process.Start(); err != nil {
		return err
	}
	return in.ping(time.Minute)
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
	if err := in.ping(timeout); err != nil {
		t.Fatal(err)
	}
}

// ping waits for /ping to answer, or the process to exit.
func (in *Influx) ping(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !in.Running() {
			return fmt.Errorf("influxd for %s exited (log %s)", in.URL, in.Log)
		}
		resp, err := http.Get(in.URL + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("influxd at %s not ready after %s", in.URL, timeout)
}
