package fwconfig_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The gateway imports firmware-config; firmware-config importing the
// gateway back made a cycle (the codec returned gateway/telemetry values).
// No package under firmware-config may depend on anything under gateway/,
// directly or through another package. The fwconfig command is exempt: it
// pushes signed configs over MQTT and speaks the wire contract
// (gateway/telemetry), and nothing imports a command.
func TestNoGatewayImports(t *testing.T) {
	const module = "github.com/boilerwatch/boilerwatch/"
	out, err := exec.CommandContext(t.Context(), "go", "list",
		"-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for line := range strings.Lines(string(out)) {
		pkg, deps, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(pkg, module+"firmware-config/cmd/") {
			continue
		}
		checked++
		for dep := range strings.FieldsSeq(deps) {
			if strings.HasPrefix(dep, module+"gateway/") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
	if checked < 4 {
		t.Fatalf("checked %d packages, want every firmware-config package:\n%s", checked, out)
	}
}
