package plan

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

func TestLearnedPersists(t *testing.T) {
	t.Parallel()
	path := LearnedPath(filepath.Join(t.TempDir(), "queue") + "/")
	if !strings.HasSuffix(path, "queue.holes.json") {
		t.Fatalf("path %s", path)
	}
	l, err := LoadLearned(path)
	if err != nil || l.Holes("m1", "p") != nil {
		t.Fatalf("missing file: %v %v", l.Holes("m1", "p"), err)
	}
	if changed, err := l.Add("m1", "p", Span{"holding", 20, 5}); !changed || err != nil {
		t.Fatalf("first hole: %v %v", changed, err)
	}
	st, _ := os.Stat(path)
	// Inside a known hole: nothing new, the file is not rewritten.
	if changed, err := l.Add("m1", "p", Span{"holding", 21, 2}); changed || err != nil {
		t.Fatalf("known hole: %v %v", changed, err)
	}
	if st2, _ := os.Stat(path); !st2.ModTime().Equal(st.ModTime()) {
		t.Error("file rewritten without a change")
	}
	// Touching holes join.
	l.Add("m1", "p", Span{"holding", 25, 3}, Span{"input", 0, 1})
	l2, err := LoadLearned(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Span{{"holding", 20, 8}, {"input", 0, 1}}
	if got := l2.Holes("m1", "p"); !reflect.DeepEqual(got, want) {
		t.Errorf("after reload %v, want %v", got, want)
	}
	// Another profile on the same device name: what was learned no longer applies.
	if got := l2.Holes("m1", "other"); got != nil {
		t.Errorf("other profile: %v", got)
	}
	// A damaged file is reported and ignored.
	os.WriteFile(path, []byte("{not json"), 0o644)
	if l3, err := LoadLearned(path); err == nil || l3 == nil || l3.Holes("m1", "p") != nil {
		t.Errorf("damaged file: %v", err)
	}
}

func TestCarve(t *testing.T) {
	t.Parallel()
	ps := []*profile.Point{
		{Name: "x", Register: "holding", Address: 14, Type: "float32"},
		{Name: "y", Register: "input", Address: 11, Type: "uint16"},
	}
	got := Carve(Span{"holding", 10, 10}, ps)
	want := []Span{{"holding", 10, 4}, {"holding", 16, 4}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// -plan plans around the profile's holes and the learned ones, and says so.
func TestPrintSiteLearned(t *testing.T) {
	t.Parallel()
	g := loadGateway(t, `devices:
  - {name: m1, profile: grouped-meter, address: "127.0.0.1:502", unit_id: 1, interval: 10s, max_gap: 100}
`)
	var before strings.Builder
	PrintSiteLearned(&before, g, nil)
	if !strings.Contains(before.String(), "3 round trips per cycle\n") || !strings.Contains(before.String(), "holding  start     0 count 104: dp ep eq") {
		t.Fatalf("setup: the totals group should bridge 1..99:\n%s", before.String())
	}
	l, _ := LoadLearned("")
	l.Add("m1", "grouped-meter", Span{"holding", 50, 10})
	var b strings.Builder
	PrintSiteLearned(&b, g, l)
	for _, want := range []string{
		"device m1 (grouped-meter, tcp://127.0.0.1:502 unit 1): 4 round trips per cycle\n  never bridged: holding 50..59 (learned)\n",
		"holding  start     0 count   1: dp\n    holding  start   100 count   4: ep eq\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
}
