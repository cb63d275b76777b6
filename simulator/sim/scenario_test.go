package sim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
)

func loadText(t *testing.T, text string) (*Scenario, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return LoadScenario(path)
}

func TestShippedScenarios(t *testing.T) {
	files, _ := filepath.Glob("../scenarios/*.yaml")
	if len(files) == 0 {
		t.Fatal("no scenarios shipped")
	}
	for _, f := range files {
		if _, err := LoadScenario(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	y, ok := servicetest.DocBlocks(t, "README.md", "yaml")["# scenario.yaml"]
	if !ok {
		t.Fatal("README has no '# scenario.yaml' example")
	}
	if _, err := loadText(t, y); err != nil {
		t.Errorf("README scenario: %v", err)
	}
}

func TestScenarioErrors(t *testing.T) {
	_, err := loadText(t, `boilers: [{name: b}]
servers:
  - listen: nowhere
    devices:
      - {name: d, unit_id: 0, profile: nope, boiler: c}
`)
	if err == nil {
		t.Fatal("bad scenario accepted")
	}
	for _, want := range []string{
		":3: servers[0].listen: \"nowhere\": want host:port",
		":5: servers[0].devices[0].unit_id: 0: want a unit id 1..247",
		":5: servers[0].devices[0].profile: unknown profile \"nope\"",
		":5: servers[0].devices[0].boiler: unknown boiler \"c\"",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
