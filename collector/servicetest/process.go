package servicetest

import (
	"fmt"
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
	p := newProcess(t, name, args...)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// newProcess is name with args, not started yet, stopped at the end of the
// test (its log's tail printed if the test failed).
func newProcess(t testing.TB, name string, args ...string) *Process {
	p := &Process{Name: name, Args: args, Log: filepath.Join(t.TempDir(), filepath.Base(name)+".log")}
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

// Renice sets the scheduling priority (nice value) of the running process
// and every thread of its process group; a negative one needs root.
func (p *Process) Renice(nice int) error {
	pid := p.Pid()
	if pid == 0 {
		return fmt.Errorf("renice %s: not started", filepath.Base(p.Name))
	}
	if err := syscall.Setpriority(syscall.PRIO_PGRP, pid, nice); err != nil {
		return fmt.Errorf("renice %s (pid %d) to %d: %w", filepath.Base(p.Name), pid, nice, err)
	}
	return nil
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
