package systemd_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// With the remote-update drop-in, the gateway runs from a directory its
// unit lets it write, so it can keep the previous binary beside the one it
// runs and rename the new one over it; the command line is the unit's own
// but for the executable.
func TestRemoteUpdateDropIn(t *testing.T) {
	unit := readUnit(t, "boilerwatch-gateway.service")
	dropIn := readUnit(t, filepath.Join("boilerwatch-gateway.service.d", "remote-update.conf"))
	exec := dropIn["ExecStart"]
	if len(exec) != 2 || exec[0] != "" {
		t.Fatalf("drop-in ExecStart %q: want a reset (ExecStart=) then one command", exec)
	}
	unitExe, unitArgs, _ := strings.Cut(unit["ExecStart"][0], " ")
	exe, args, _ := strings.Cut(exec[1], " ")
	if args != unitArgs || exe == unitExe {
		t.Errorf("drop-in runs %q %q; want another executable with the unit's arguments %q", exe, args, unitArgs)
	}
	// Restart= must start the binary again after it exits 75 (a switch).
	if r := unit["Restart"]; len(r) != 1 || (r[0] != "on-failure" && r[0] != "always") {
		t.Errorf("Restart=%v: a gateway that switched binaries exits 75 and must be started again", r)
	}
	for _, f := range []string{exe, exe + ".new", exe + ".prev", exe + ".part", exe + ".part.json", exe + ".update.json"} {
		if !under(f, unit.writable()) {
			t.Errorf("the gateway writes %s, which its unit keeps read-only (writable: %v)", f, unit.writable())
		}
	}
}

// Before each start the drop-in runs the guard from the previous binary
// (README "Remote software update"), which rolls back a new binary that
// dies before its main runs. A missing previous binary (before the first
// update, after a rollback) or one from before the guard must not stop
// the service: the command is "-"-prefixed.
func TestRemoteUpdateGuard(t *testing.T) {
	dropIn := readUnit(t, filepath.Join("boilerwatch-gateway.service.d", "remote-update.conf"))
	exe, _, _ := strings.Cut(dropIn["ExecStart"][len(dropIn["ExecStart"])-1], " ")
	pre := dropIn["ExecStartPre"]
	if len(pre) != 1 {
		t.Fatalf("drop-in ExecStartPre %q: want one command, the update guard", pre)
	}
	fields := strings.Fields(pre[0])
	if fields[0] != "-"+exe+".prev" {
		t.Errorf("ExecStartPre runs %q; want the previous binary, failure ignored: -%s.prev", fields[0], exe)
	}
	if args := strings.Join(fields[1:], " "); !strings.Contains(" "+args+" ", " -update-guard "+exe+" ") {
		t.Errorf("ExecStartPre arguments %q: want -update-guard %s", args, exe)
	}
}

// TestVerifyRemoteUpdate runs systemd-analyze verify on the gateway unit
// with the drop-in, ExecStart pointing at the test binary (as TestVerify)
// and the guard's previous binary missing, as before the first update.
func TestVerifyRemoteUpdate(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian: apt-get install systemd)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe := regexp.MustCompile(`(?m)^ExecStart=\S+`)
	dir := t.TempDir()
	for _, name := range []string{"boilerwatch-gateway.service", filepath.Join("boilerwatch-gateway.service.d", "remote-update.conf")} {
		unit, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, exe.ReplaceAll(unit, []byte("ExecStart="+self)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat("/var/lib/boilerwatch/bin/boilerwatch-gateway.prev"); err == nil {
		t.Skip("a gateway is installed here: the guard's missing binary is not what is verified")
	}
	out, err := exec.Command(analyze, "verify", filepath.Join(dir, "boilerwatch-gateway.service")).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify with the drop-in: %v\n%s", err, out)
	}
}
