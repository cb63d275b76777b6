package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
)

func TestReleaseSignCommand(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "op")
	var out, errb bytes.Buffer
	if code := run([]string{"keygen", "-out", key}, &out, &errb); code != 0 {
		t.Fatalf("keygen: %d %s", code, errb.String())
	}
	exe, err := os.Executable() // a Go binary with build info
	if err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(dir, "release.json")
	args := []string{"release", "sign", "-key", key, "-url", "https://updates.example/gw", "-version", "1.2.0", "-out", signed, exe}
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("release sign: %d %s", code, errb.String())
	}
	payload, _ := os.ReadFile(signed)
	pub, err := fwconfig.LoadPublicKey(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	r, err := fwconfig.VerifyRelease(payload, pub, runtime.GOOS+"/"+runtime.GOARCH, "1.1.0")
	if err != nil || r.Version != "1.2.0" {
		t.Fatalf("the signed release does not verify: %v %+v", err, r)
	}
	errb.Reset()
	if code := run([]string{"release", "sign", "-key", key, "-url", "https://u/g", "-target", "linux/mips", "-version", "1.2.0", exe}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "not linux/mips") {
		t.Errorf("another target: exit %d, %s", code, errb.String())
	}
	if code := run([]string{"release", "sign", "-key", key, exe}, &out, &errb); code != 2 {
		t.Errorf("no -url: exit %d, want 2", code)
	}
}

// The README's release sign command runs as written, on a binary and key
// of the test's own.
func TestReadmeReleaseSign(t *testing.T) {
	sh := servicetest.DocBlocks(t, "README.md", "sh")["# fwconfig release"]
	var sign []string
	for line := range strings.Lines(sh) {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "fwconfig" && f[1] == "release" && f[2] == "sign" {
			sign = f[1:]
		}
	}
	if sign == nil {
		t.Fatal(`README's "# fwconfig release" example has no fwconfig release sign command`)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"keygen", "-out", filepath.Join(dir, "operator.key")}, &out, &errb); code != 0 {
		t.Fatal(errb.String())
	}
	// The binary is the test's; the key and the output go to dir.
	sign[len(sign)-1] = exe
	for i := range sign[:len(sign)-1] {
		switch sign[i] {
		case "-key", "-out":
			sign[i+1] = filepath.Join(dir, sign[i+1])
		}
	}
	if code := run(sign, &out, &errb); code != 0 {
		t.Fatalf("README's %v: exit %d: %s", sign, code, errb.String())
	}
}
