//go:build !unix || solaris || aix || illumos

package dirlock

import "os"

// tryLock is a no-op where flock is missing: the gateway ships for Linux.
func tryLock(*os.File) (bool, error) { return false, nil }
