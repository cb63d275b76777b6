package remote

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data so that a crash leaves the old file or
// the new one, never a mix or nothing: a temporary file in the same
// directory is written, synced and renamed over path, and the directory is
// synced so the rename itself survives a power loss.
//
// The new file gets the mode and, as far as the process may set it, the
// owner and group of like (path itself when like is empty): a config the
// operator made 0640 must not become world-readable because it was pushed,
// and FILE.prev, a copy of the config, is no wider than the config. When
// like does not exist, the file gets perm.
func WriteFile(path string, data []byte, like string, perm fs.FileMode) error {
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
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write %s: the file is replaced, but syncing %s failed: %w", path, dir, err)
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
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
