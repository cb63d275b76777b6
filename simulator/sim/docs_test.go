package sim

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
)

// TestDocsExamples: the scenario and the control API requests that
// docs/simulator.md shows are valid.
func TestDocsExamples(t *testing.T) {
	t.Parallel()
	y, ok := servicetest.DocBlocks(t, "docs/simulator.md", "yaml")["# scenario: reference"]
	if !ok {
		t.Fatal("docs/simulator.md has no '# scenario: reference' example")
	}
	sc, err := loadText(t, y)
	if err != nil {
		t.Fatalf("docs scenario: %v", err)
	}
	if n := len(sc.Servers); n != 4 {
		t.Errorf("docs scenario expands to %d servers, want 4", n)
	}
	sh, ok := servicetest.DocBlocks(t, "docs/simulator.md", "sh")["# control API examples"]
	if !ok {
		t.Fatal("docs/simulator.md has no '# control API examples' block")
	}
	body := regexp.MustCompile(`-d '([^']*)'`)
	posts := 0
	for _, line := range strings.Split(sh, "\n") {
		m := body.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(m[1]))
		dec.DisallowUnknownFields()
		var spec FaultSpec
		if err := dec.Decode(&spec); err != nil {
			t.Errorf("%s: %v", line, err)
			continue
		}
		if _, err := spec.parse(ProtocolTCP); err != nil {
			t.Errorf("%s: %v", line, err)
		}
		posts++
	}
	if posts < 5 {
		t.Errorf("only %d POST examples found", posts)
	}
}
