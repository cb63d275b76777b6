//go:build !unix

package ingest

import "os"

// lock is a no-op where flock is missing: there a reingest must not run
// beside a collector that shares the folder.
func lock(*os.File) error { return nil }
