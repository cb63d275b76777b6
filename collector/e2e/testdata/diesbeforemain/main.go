// Command diesbeforemain is a gateway release that dies before its main
// runs, for the update test: its package init exits, as a binary built for
// another CPU variant dies in the runtime's start, so it never takes up its
// update trial. The guard run from the previous binary before each start
// rolls it back.
package main

import "os"

// version is set with -X main.version, which fwconfig release sign reads.
var version = "dev"

func init() { os.Exit(2) }

func main() { panic("gateway " + version + " ran its main: init should have exited") }
