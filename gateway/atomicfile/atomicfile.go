// Package atomicfile replaces a file's content so that a crash or power cut
// leaves either the old content or the new, never a mix or nothing.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces path with data, keeping the mode and owner of the file it
// replaces; a new file gets perm.
func Write(path string, data []byte, perm fs.FileMode) error {
	return WriteLike(path, data, "", perm)
}

// WriteLike replaces path with data: a temporary file in the same folder
// is written, synced and renamed over path, and the folder is synced so
// the rename itself survives a power cut.
//
// The new file gets the mode and, as far as the process may set it, the
// owner and group of like (path itself when like is empty): a config the
// operator made 0640 must not become world-readable because it was
// replaced, and a copy such as FILE.prev is no wider than FILE. When like
// does not exist, the file gets perm.
func WriteLike(path string, data []byte, like string, perm fs.FileMode) error {
	if like == "" {
		like = path
	}
	mode := perm
	var own *owner
	switch st, err := os.Stat(like); {
	case err == nil:
		mode, own = st.Mode().Perm(), ownerOf(st)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("write %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	// Owner and mode before the first byte: the content is never readable
	// by more than the final file allows, not even for a moment.
	own.apply(f)
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("write %s: the file is replaced, but syncing %s failed: %w", path, dir, err)
	}
	return nil
}

// SyncDir makes the entries of dir (a create, rename or remove) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
