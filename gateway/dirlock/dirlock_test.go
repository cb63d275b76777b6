package dirlock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as a second process holding a lock:
// with BW_DIRLOCK_HOLD=dir it locks dir, says "locked" and waits.
func TestMain(m *testing.M) {
	if dir := os.Getenv("BW_DIRLOCK_HOLD"); dir != "" {
		l, err := Acquire(dir, "queue directory")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(3)
		}
		fmt.Println("locked", l.File())
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// holder starts another process that holds dir's lock.
func holder(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BW_DIRLOCK_HOLD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "locked ") {
		t.Fatalf("holder: %q", line)
	}
	return cmd
}

// Another running process holds the lock: refused at once, naming its
// pid; once it is killed (the lock file stays behind), the lock is free.
func TestHeldByAnotherProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	h := holder(t, dir)
	start := time.Now()
	_, err := Acquire(dir, "queue directory")
	if !errors.Is(err, ErrHeld) {
		t.Fatalf("second lock: %v, want ErrHeld", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusal took %s, want at once", d)
	}
	if want := fmt.Sprintf("pid %d", h.Process.Pid); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q should name the directory and %q", err, want)
	}
	h.Process.Signal(syscall.SIGKILL)
	h.Wait()
	if _, err := os.Stat(dir + ".lock"); err != nil {
		t.Fatalf("the dead holder's lock file should still be there: %v", err)
	}
	l, err := Acquire(dir, "queue directory")
	if err != nil {
		t.Fatalf("lock of a dead process blocked: %v", err)
	}
	defer l.Close()
	b, _ := os.ReadFile(l.File())
	if got, want := string(b), fmt.Sprintf("pid %d\n", os.Getpid()); got != want {
		t.Errorf("lock file holds %q, want %q", got, want)
	}
}

// A stale lock file (left by a dead process, with its pid) does not block,
// and Close frees the lock for the next start.
func TestStaleFileAndClose(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	os.WriteFile(dir+".lock", []byte("pid 999999\n"), 0o644)
	l, err := Acquire(dir, "queue directory")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("directory not created: %v", err)
	}
	// Within one process, a second open file description conflicts too.
	if _, err := Acquire(dir, "queue directory"); !errors.Is(err, ErrHeld) {
		t.Errorf("second lock while held: %v", err)
	}
	l.Close()
	l2, err := Acquire(dir, "queue directory")
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	l2.Close()
}

// Two spellings of one directory (a symbolic link, a trailing slash) share
// one lock.
func TestSymlinkSharesLock(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "queue")
	l, err := Acquire(dir, "queue directory")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	link := filepath.Join(base, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Skip(err)
	}
	for _, other := range []string{link, dir + "/", link + "/."} {
		if _, err := Acquire(other, "queue directory"); !errors.Is(err, ErrHeld) {
			t.Errorf("%s: %v, want ErrHeld", other, err)
		}
	}
}
