//go:build unix

package atomicfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWriteLikeOwner: root (the test may run as root) keeps the owner and
// group of the file it replaces.
func TestWriteLikeOwner(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file another owner")
	}
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeMode(t, path, "old\n", 0o640)
	if err := os.Chown(path, 4242, 4343); err != nil {
		t.Fatal(err)
	}
	for _, like := range []string{"", path} {
		target := path
		if like != "" {
			target = path + ".prev"
		}
		if err := WriteLike(target, []byte("new\n"), like, 0o600); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(target)
		sys := st.Sys().(*syscall.Stat_t)
		if sys.Uid != 4242 || sys.Gid != 4343 || st.Mode().Perm() != 0o640 {
			t.Errorf("%s: %d:%d %v, want 4242:4343 -rw-r-----", target, sys.Uid, sys.Gid, st.Mode().Perm())
		}
	}
}
