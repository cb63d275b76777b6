package servicetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

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
