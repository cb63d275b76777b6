// Package docs holds the tests that keep docs/architecture.md true to the
// tree: the packages it names, and the dependency rules it states.
package docs

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/boilerwatch/boilerwatch/"

// pkg is one package of the module as go list sees it, its path relative
// to the module and its direct imports (test files left out: the rules
// are about what the binaries are made of).
type pkg struct {
	path    string
	imports []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], module) {
			continue
		}
		p := pkg{path: strings.TrimPrefix(f[0], module)}
		for _, imp := range f[1:] {
			p.imports = append(p.imports, strings.TrimPrefix(imp, module))
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 30 {
		t.Fatalf("go list found %d packages:\n%s", len(pkgs), out)
	}
	return pkgs
}

// named are the repository paths the document writes in backquotes.
func named(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := os.ReadFile("architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("`((?:gateway|collector|firmware-config|simulator|deploy)(?:/[A-Za-z0-9_.*<>-]+)*/?)`")
	out := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(doc), -1) {
		out[m[1]] = true
	}
	return out
}

// TestArchitectureNamesExist: every path the document names is in the
// tree (a file or directory; <name> stands for any), and every package of
// the module is named, so the page neither points at a package that moved
// nor leaves a new one out.
func TestArchitectureNamesExist(t *testing.T) {
	names := named(t)
	for n := range names {
		glob := filepath.Join("..", regexp.MustCompile(`<[^>]*>`).ReplaceAllString(n, "*"))
		if m, _ := filepath.Glob(glob); len(m) == 0 {
			t.Errorf("docs/architecture.md names %s, which is not in the tree", n)
		}
	}
	for _, p := range listPackages(t) {
		if p.path == "docs" {
			continue
		}
		if !names[p.path] {
			t.Errorf("package %s is not named in docs/architecture.md: add it to the table of packages (and to the picture if data goes through it)", p.path)
		}
	}
}

// TestDependencyRules holds the rules of "Rules a change must keep"
// against the imports of every package.
func TestDependencyRules(t *testing.T) {
	shared := []string{"gateway/telemetry", "gateway/atomicfile", "gateway/loglevel", "gateway/opshttp", "gateway/sdnotify", "gateway/mqttconn"}
	noIO := []string{"collector/energy", "collector/efficiency", "collector/steam", "collector/refdata"}
	under := func(p, dir string) bool { return strings.HasPrefix(p, dir+"/") || p == dir }
	for _, p := range listPackages(t) {
		command := strings.Contains(p.path, "/cmd/")
		for _, imp := range p.imports {
			var broken string
			switch {
			case under(p.path, "firmware-config") && !command &&
				(under(imp, "gateway") || under(imp, "collector") || under(imp, "simulator")):
				broken = "nothing under firmware-config/ but its command imports gateway/, collector/ or simulator/"
			case under(p.path, "gateway") && (under(imp, "collector") || under(imp, "simulator")):
				broken = "nothing under gateway/ imports collector/ or simulator/"
			case under(p.path, "collector") && under(imp, "gateway") && !slices.Contains(shared, imp):
				broken = "collector/ imports of gateway/ only " + strings.Join(shared, ", ")
			case under(p.path, "simulator") && under(imp, "gateway") && imp != "gateway/crc16" &&
				(p.path != "simulator/cmd/loadgen" || imp != "gateway/telemetry"):
				broken = "simulator/ imports of gateway/ only gateway/crc16 (and simulator/cmd/loadgen gateway/telemetry)"
			case slices.Contains(noIO, p.path) && (slices.Contains([]string{"os", "net", "net/http", "collector/store", "collector/derived"}, imp) ||
				strings.Contains(imp, "influxdb") || strings.Contains(imp, "paho") || strings.Contains(imp, "mqtt")):
				broken = strings.Join(noIO, ", ") + " do no I/O"
			case imp == "gopkg.in/yaml.v3" && (under(p.path, "gateway") || under(p.path, "collector") || under(p.path, "simulator")):
				broken = "config files are decoded with firmware-config/conf, the one YAML reader"
			}
			if broken != "" {
				t.Errorf("%s imports %s: %s (docs/architecture.md)", p.path, imp, broken)
			}
		}
	}
}
