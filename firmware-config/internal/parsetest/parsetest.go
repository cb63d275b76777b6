// Package parsetest holds what the tests of the firmware-config parsers
// share: golden files and fuzz seeds from testdata, and the check that a
// parser's error names the file it read. The root package (gateway config)
// and the profile package use it; nothing outside firmware-config can.
package parsetest

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Golden compares got with the file at path, or rewrites it with -update.
func Golden(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// SeedFiles adds every file matching pattern as a fuzz seed.
func SeedFiles(f *testing.F, pattern string) {
	files, _ := filepath.Glob(pattern)
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
}

// CheckParseError: whatever the input, a parser given the file name
// "fuzz.yaml" returns a value or conf.Errors naming that file, never a panic
// or an anonymous error.
func CheckParseError(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var fe conf.Errors
	if !errors.As(err, &fe) || len(fe) == 0 {
		t.Fatalf("error is not conf.Errors: %T %v", err, err)
	}
	for _, e := range fe {
		if e.File != "fuzz.yaml" || !strings.HasPrefix(e.Error(), "fuzz.yaml") {
			t.Fatalf("error does not name the file: %q", e.Error())
		}
	}
}
