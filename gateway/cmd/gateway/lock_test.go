package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a process's stderr, read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startGatewayProcess starts the gateway binary on config and waits until
// it says it started.
func startGatewayProcess(t *testing.T, bin, config string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, "-config", config, "-drain", "0s")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(out.String(), "gateway started"); {
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd, &out
}

// Two gateway processes on one queue directory: the second refuses to
// start, naming the first's pid, and leaves the first's queue alone; once
// the first is killed with SIGKILL (its lock file left behind), the
// second starts and continues the sequence in a new block.
func TestSecondGatewayOnQueueDirRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "gateway")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	queueDir := filepath.Join(dir, "queue")
	config := filepath.Join(dir, "gw.yaml")
	// No broker and no device: both refused, the gateway keeps trying.
	os.WriteFile(config, []byte(fmt.Sprintf(`version: 1
site: s1
gateway: g1
mqtt: {broker: 'tcp://127.0.0.1:1'}
queue: {dir: %q}
devices:
  - {name: m1, profile: chint-dtsu666, address: '127.0.0.1:1', unit_id: 1, interval: 1s}
`, queueDir)), 0o644)

	first, _ := startGatewayProcess(t, bin, config)
	// The first sample (within the 1 s interval) reserves the first
	// block; compared before that, the first gateway's own reservation
	// would look like the second's.
	var seq []byte
	for deadline := time.Now().Add(10 * time.Second); len(seq) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first gateway reserved no sequence numbers within 10 s")
		}
		seq, _ = os.ReadFile(filepath.Join(queueDir, "seq"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	second := exec.CommandContext(ctx, bin, "-config", config)
	start := time.Now()
	out, err := second.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("second gateway on the same queue: %v, want exit status 1\n%s", err, out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second gateway took %s to refuse", d)
	}
	want := fmt.Sprintf("queue directory %s is in use by another process (pid %d", queueDir, first.Process.Pid)
	if !strings.Contains(string(out), want) {
		t.Errorf("second gateway said\n%s\nwant it to contain %q", out, want)
	}
	if strings.Contains(string(out), "queue opened") {
		t.Errorf("second gateway opened the queue:\n%s", out)
	}
	if now, _ := os.ReadFile(filepath.Join(queueDir, "seq")); !bytes.Equal(now, seq) {
		t.Errorf("second gateway reserved sequence numbers: seq %q, was %q", now, seq)
	}

	// The first dies without cleaning up: its lock file stays, its lock
	// does not.
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	if _, err := os.Stat(queueDir + ".lock"); err != nil {
		t.Fatal(err)
	}
	third, out3 := startGatewayProcess(t, bin, config)
	third.Process.Signal(syscall.SIGTERM)
	if err := third.Wait(); err != nil {
		t.Errorf("gateway after a dead one's lock: %v\n%s", err, out3.String())
	}
}
