package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name     string
		existing os.FileMode // 0: no file before
		perm     os.FileMode
		want     os.FileMode
	}{
		{"new file gets perm", 0, 0o600, 0o600},
		{"existing 0640 stays 0640", 0o640, 0o644, 0o640},
		{"existing 0600 stays 0600", 0o600, 0o644, 0o600},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "f"+string(rune('a'+i)))
			if c.existing != 0 {
				if err := os.WriteFile(path, []byte("old"), c.existing); err != nil {
					t.Fatal(err)
				}
				os.Chmod(path, c.existing)
			}
			if err := Write(path, []byte("new"), c.perm); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != "new" {
				t.Fatalf("content %q, %v", got, err)
			}
			fi, _ := os.Stat(path)
			if fi.Mode().Perm() != c.want {
				t.Errorf("mode %o, want %o", fi.Mode().Perm(), c.want)
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(cases) {
		t.Errorf("%d entries in the folder, want %d: a temporary file was left", len(entries), len(cases))
	}
}

func TestWriteMissingFolder(t *testing.T) {
	if err := Write(filepath.Join(t.TempDir(), "no", "such"), []byte("x"), 0o600); err == nil {
		t.Fatal("no error for a missing folder")
	}
}
