package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
)

// The README's import example: its command on its table prints its
// profile, and the broken table its errors.
func TestReadmeProfileImport(t *testing.T) {
	sh := servicetest.DocBlocks(t, "README.md", "sh")["# fwconfig profile import"]
	table := servicetest.DocBlocks(t, "README.md", "csv")["name,register,address,type,scale,unit,description"]
	want := servicetest.DocBlocks(t, "README.md", "yaml")["# Imported with fwconfig profile import from acme-chiller.csv: check every point against the manual."]
	wantErr := servicetest.DocBlocks(t, "README.md", "text")["# the same table with the scale of line 2 written \"ten\" and the type of line 4 \"bitt\""]
	if sh == "" || table == "" || want == "" || wantErr == "" {
		t.Fatal("README lacks the import example (command, table, profile and errors)")
	}
	cmd := strings.Fields(strings.SplitN(sh, "\n", 2)[1])
	if cmd[0] != "fwconfig" {
		t.Fatalf("README command %q does not start with fwconfig", cmd)
	}
	t.Chdir(t.TempDir())
	if err := os.WriteFile("acme-chiller.csv", []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(cmd[1:], &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if out.String() != want {
		t.Errorf("README profile differs from what the command prints:\n%s", out.String())
	}

	lines := strings.Split(table, "\n")
	lines[1] = strings.Replace(lines[1], ",0.1,", ",ten,", 1)
	lines[3] = strings.Replace(lines[3], ",bit,", ",bitt,", 1)
	if err := os.WriteFile("acme-chiller.csv", []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if code := run(cmd[1:], &out, &errb); code != 1 {
		t.Fatalf("exit %d on the broken table, want 1", code)
	}
	if errb.String() != strings.SplitN(wantErr, "\n", 2)[1] {
		t.Errorf("README errors differ from what the command reports:\n%s", errb.String())
	}
}

// The README's collector and gateway examples are told apart by content
// and pass fwconfig validate.
func TestReadmeConfigsValidate(t *testing.T) {
	blocks := servicetest.DocBlocks(t, "README.md", "yaml")
	for key, want := range map[string]string{"# collector.yaml": kindCollector, "# gateway.yaml": kindGateway} {
		y, ok := blocks[key]
		if !ok {
			t.Fatalf("README has no %q example", key)
		}
		if got := kindOf([]byte(y)); got != want {
			t.Errorf("%s: kindOf = %s, want %s", key, got, want)
		}
	}
	dir := t.TempDir()
	f := dir + "/collector.yaml"
	if err := os.WriteFile(f, []byte(blocks["# collector.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"validate", f}, &out, &errb); code != 0 || !strings.Contains(out.String(), "ok (collector)") {
		t.Errorf("exit %d: %s%s", code, out.String(), errb.String())
	}
}
