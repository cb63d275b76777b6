// Command crashgw is a gateway release that dies at start, for the update
// test: it takes up its update trial first thing, as the gateway's main
// does, then exits with an error, as a gateway that cannot read its config
// would. Under the drop-in's guard (the test's restart loop runs it) the
// previous binary rolls it back before its second start; without one it
// rolls back itself when run again with the trial standing.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/boilerwatch/boilerwatch/gateway/update"
)

var version = "dev"

func main() {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	u, err := update.New(update.Options{Executable: exe, Running: version, Target: runtime.GOOS + "/" + runtime.GOARCH})
	if err != nil {
		panic(err)
	}
	if _, err := u.Boot(); errors.Is(err, update.ErrRestart) {
		os.Exit(update.ExitRestart)
	}
	fmt.Fprintln(os.Stderr, "crashgw", version, "failing at start")
	os.Exit(2)
}
