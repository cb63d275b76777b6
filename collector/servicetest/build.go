package servicetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// builds holds the binaries Build and BuildRelease made in this test
// binary. Each test asking for the same command gets the same file: go
// build's cache spares the compile but not the link, seconds of CPU per
// binary that parallel tests would otherwise pay together.
var builds = struct {
	sync.Mutex
	dir   string            // set by Main; "" builds into each test's own directory
	paths map[string]string // by flavour and package
}{paths: map[string]string{}}

// Main runs a package's tests with one build of each command for all of
// them, and removes those binaries afterwards. A package whose tests call
// Build makes it its TestMain:
//
//	func TestMain(m *testing.M) { servicetest.Main(m) }
//
// Without it Build still works, building into each test's temporary
// directory.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "servicetest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "servicetest:", err)
		os.Exit(2)
	}
	builds.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Build compiles the named commands (e.g. "gateway/cmd/gateway") and
// returns their paths by base name.
func Build(t testing.TB, pkgs ...string) map[string]string {
	t.Helper()
	return build(t, "debug", nil, pkgs)
}

// BuildRelease builds like Build, with the flags of make release (static,
// stripped, -trimpath) for this machine: what a memory or size measurement
// must measure is the binary that ships.
func BuildRelease(t testing.TB, pkgs ...string) map[string]string {
	t.Helper()
	return build(t, "release", []string{"-trimpath", "-ldflags=-s -w"}, pkgs)
}

// BuildVersion builds the packages as Build does, with main.version set
// to version (-ldflags -X), as a release is built: for tests of software
// updates, which need two builds that differ only in version.
func BuildVersion(t testing.TB, version string, pkgs ...string) map[string]string {
	t.Helper()
	return build(t, "version-"+version, []string{"-ldflags=-X main.version=" + version}, pkgs)
}

// build builds what of pkgs this process has not built in this flavour
// yet. The lock is held through go build, so a test asking for a binary
// another is building waits for that build instead of making its own.
func build(t testing.TB, flavour string, flags, pkgs []string) map[string]string {
	t.Helper()
	builds.Lock()
	defer builds.Unlock()
	cached := builds.dir != ""
	dir := filepath.Join(builds.dir, flavour)
	if !cached {
		dir = t.TempDir()
	}
	key := func(p string) string { return flavour + " " + p }
	var missing []string
	for _, p := range pkgs {
		if !cached || builds.paths[key(p)] == "" {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		args := append(append([]string{"build", "-o", dir + "/"}, flags...), prefixed(missing)...)
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = RepoRoot(t)
		if flags != nil {
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("go build %s: %v\n%s", strings.Join(missing, " "), err, stderr.String())
		}
		for _, p := range missing {
			if cached {
				builds.paths[key(p)] = filepath.Join(dir, filepath.Base(p))
			}
		}
	}
	out := map[string]string{}
	for _, p := range pkgs {
		out[filepath.Base(p)] = filepath.Join(dir, filepath.Base(p))
	}
	return out
}

func prefixed(pkgs []string) []string {
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = "./" + p
	}
	return out
}
