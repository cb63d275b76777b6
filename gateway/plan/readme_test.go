package plan_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/plan"
)

// The README's -plan output example is what gateway -plan prints for the
// README's gateway example.
func TestReadmePlanExample(t *testing.T) {
	blocks := servicetest.DocBlocks(t, "README.md", "yaml")
	gw, err := fwconfig.ParseGateway("README.md#gateway.yaml", []byte(blocks["# gateway.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	plan.PrintSite(&got, gw)
	readme, err := os.ReadFile(filepath.Join(servicetest.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(readme), "```\ndevice boiler1 (")
	if start < 0 {
		t.Fatal("README has no -plan output example")
	}
	rest := string(readme)[start+4:]
	want := rest[:strings.Index(rest, "```")]
	if got.String() != want {
		t.Errorf("README -plan example differs from gateway -plan:\n--- gateway -plan\n%s--- README\n%s", got.String(), want)
	}
}
