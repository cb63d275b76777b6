package e2e

import (
	"flag"
	"fmt"
	"testing"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
)

// e2eParallel is how many tests calling t.Parallel run at once unless
// -parallel says otherwise. The tests mostly wait on processes in real
// time (a simulated day at ×360, outages, kill rounds, a browser), so
// more of them run together than the machine has cores (go test's
// default): on 2 cores the package took about 10 minutes one at a time.
const e2eParallel = 8

// TestMain builds each command once for every test (servicetest.Main)
// and raises the default of -parallel to e2eParallel.
//
// Tests that measure the machine (TestCollectorDrainBench,
// TestGatewayCPUBench, TestGatewayRSS, TestGatewayFlash: CPU, RSS, flash
// writes) do not call t.Parallel: a test that does runs only after every
// serial test has finished, so they measure alone. make test skips them;
// make bench runs them one by one.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", fmt.Sprint(e2eParallel))
	}
	servicetest.Main(m)
}
