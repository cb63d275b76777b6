//go:build unix

package atomicfile

import (
	"io/fs"
	"os"
	"syscall"
)

// owner is a file's user and group.
type owner struct{ uid, gid int }

func ownerOf(fi fs.FileInfo) *owner {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return &owner{int(st.Uid), int(st.Gid)}
}

// apply gives f the owner, as far as the process may: root can set both;
// any other user only a group it belongs to, so a gateway running as
// boilerwatch keeps at least the file's group (it then owns the file).
func (o *owner) apply(f *os.File) {
	if o == nil {
		return
	}
	if f.Chown(o.uid, o.gid) == nil {
		return
	}
	f.Chown(-1, o.gid)
}
