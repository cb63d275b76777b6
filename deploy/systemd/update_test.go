package systemd_test

import (
	"path/filepath"
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
