package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteLike(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		existing fs.FileMode // 0: path does not exist
		like     fs.FileMode // 0: like is path itself
		perm     fs.FileMode
		want     fs.FileMode
	}{
		{"creates with perm", 0, 0, 0o600, 0o600},
		{"keeps 0640", 0o640, 0, 0o600, 0o640},
		{"keeps 0600", 0o600, 0, 0o644, 0o600},
		{"keeps 0644", 0o644, 0, 0o600, 0o644},
		// FILE.prev takes the config's mode, even over a wider old copy.
		{"mode of like over a wider file", 0o644, 0o640, 0o600, 0o640},
		{"mode of like for a new file", 0, 0o640, 0o600, 0o640},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "gateway.yaml")
			if tc.existing != 0 {
				writeMode(t, path, "old\n", tc.existing)
			}
			like := ""
			if tc.like != 0 {
				like = filepath.Join(dir, "like.yaml")
				writeMode(t, like, "like\n", tc.like)
			}
			if err := WriteLike(path, []byte("new\n"), like, tc.perm); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != tc.want {
				t.Errorf("mode %v, want %v", st.Mode().Perm(), tc.want)
			}
			if got, _ := os.ReadFile(path); string(got) != "new\n" {
				t.Errorf("content %q", got)
			}
			// No temporary file is left behind.
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if e.Name() != "gateway.yaml" && e.Name() != "like.yaml" {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
	if err := WriteLike(filepath.Join(t.TempDir(), "missing", "x.yaml"), nil, "", 0o600); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

func writeMode(t *testing.T, path, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}
