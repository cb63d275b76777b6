package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/firmware-config/internal/parsetest"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

// Each testdata/import/<case>/ holds table.csv, args (the flags besides
// -csv) and expected.yaml (the profile printed) or error.txt (what the
// command reports, located at the table's lines).
func TestProfileImportGolden(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/import/*")
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			flags, err := os.ReadFile(filepath.Join(dir, "args"))
			if err != nil {
				t.Fatal(err)
			}
			table := filepath.Join(dir, "table.csv")
			args := append([]string{"profile", "import", "-csv", table}, strings.Fields(string(flags))...)
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			if _, err := os.Stat(filepath.Join(dir, "error.txt")); err == nil {
				if code != 1 || out.Len() > 0 {
					t.Errorf("exit %d with output %q, want 1 and none", code, out.String())
				}
				parsetest.Golden(t, filepath.Join(dir, "error.txt"), errb.String())
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			// What it prints loads as a profile, as it did in the command.
			if _, err := profile.ParseProfile(table+".yaml", out.Bytes()); err != nil {
				t.Errorf("the imported profile does not load: %v", err)
			}
			parsetest.Golden(t, filepath.Join(dir, "expected.yaml"), out.String())
		})
	}
}

func TestProfileImportUsage(t *testing.T) {
	tests := []struct {
		args      []string
		code      int
		stderrHas string
	}{
		{[]string{"profile"}, 2, "usage: fwconfig profile import"},
		{[]string{"profile", "import"}, 2, "usage: fwconfig profile import -csv FILE"},
		{[]string{"profile", "import", "-csv", "x.csv", "-comma", ";;"}, 2, "want one character"},
		{[]string{"profile", "import", "-csv", "no-such.csv"}, 1, "no such file"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tt.args, &out, &errb); code != tt.code {
				t.Errorf("exit %d, want %d (stderr: %s)", code, tt.code, errb.String())
			}
			if !strings.Contains(errb.String(), tt.stderrHas) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.stderrHas)
			}
		})
	}
}

// -out writes the file and says so.
func TestProfileImportOut(t *testing.T) {
	out := filepath.Join(t.TempDir(), "p.yaml")
	var so, se bytes.Buffer
	if code := run([]string{"profile", "import", "-csv", "testdata/import/refs/table.csv", "-class", "plc", "-ref", "-out", out}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.ParseProfile(out, data)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "table" || p.Source != profile.SourcePlaceholder || len(p.Points) != 3 || p.Points[2].Register != profile.Input || p.Points[2].Address != 0 {
		t.Errorf("imported %+v", p)
	}
	if !strings.Contains(so.String(), "fill in source:") {
		t.Errorf("stdout %q does not say to fill in source", so.String())
	}
}
