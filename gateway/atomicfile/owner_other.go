//go:build !unix

package atomicfile

import (
	"io/fs"
	"os"
)

// owner is not kept where files have no unix owner.
type owner struct{}

func ownerOf(fs.FileInfo) *owner { return nil }

func (*owner) apply(*os.File) {}
