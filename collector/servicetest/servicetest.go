// Package servicetest starts the real services the integration tests need —
// InfluxDB 1.8, Mosquitto and our own binaries — on free loopback ports in
// temporary directories, and stops them when the test ends.
//
// A missing service skips the test on a developer's machine, and fails it
// when CI=true, with the command that installs it. By file:
//
//   - servicetest.go: the repository root, free ports, waiting for a
//     listener, and Missing.
//   - process.go: Process, a child process with its log in the test's
//     directory (start, stop, kill, restart, wait for a log line), and
//     ProcStatus, the kernel's memory account of a process.
//   - build.go: Build and BuildRelease compile our commands, once per test
//     binary when the package's TestMain is Main.
//   - influx.go: StartInflux and StartInfluxAuth run InfluxDB 1.8.
//   - mosquitto.go: StartMosquitto and StartMosquittoConf run Mosquitto.
//   - certs.go: CA, a throwaway certificate authority for TLS tests.
//   - docblocks.go: DocBlocks, the fenced code blocks of a repository
//     document, so documented examples are tested.
//   - pty.go: PtyPair, two linked pseudo-terminals (a null-modem cable).
package servicetest

import (
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// FreePort returns a loopback port that was free a moment ago. It is
// picked below the kernel's ephemeral range (net.ipv4.ip_local_port_range),
// where no outgoing connection takes it as its source port: an InfluxDB
// restarted on its ports in TestHostileGateway found one taken that way.
// Where that range starts too low, the kernel picks as for port 0.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func freePort() (int, error) {
	if lo := ephemeralLow(); lo > 12000 {
		for range 100 {
			p := 10000 + rand.IntN(lo-10000)
			if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
				ln.Close()
				return p, nil
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range, or 0.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	lo, _ := strconv.Atoi(f[0])
	return lo
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
