package main

import "runtime"

// setMaxProcs runs the gateway on one P (one thread running Go code at a
// time) unless the GOMAXPROCS variable says otherwise, and returns the
// setting in force.
//
// The gateway is bound by I/O: 20 meters polled every second cost it about
// 5 ms of CPU a second, nearly all of it system calls and waking threads
// (docs/performance.md). Every hand-over of a request or sample between
// goroutines (poller, queue, forwarder, MQTT client) readies a goroutine;
// with a second P idle, the runtime wakes another thread to run it, a
// futex call and a context switch each time, for no parallelism the
// gateway needs. On one P the hand-over stays on the running thread:
// measured on the 20 meters, about a third fewer context switches and a
// third less CPU. Blocking system calls still get threads of their own,
// and the garbage collector's work on a heap of a few megabytes takes
// milliseconds. GOMAXPROCS in the environment (the systemd unit's
// Environment=) overrides it, e.g. for a gateway with many busy buses.
func setMaxProcs(lookupEnv func(string) (string, bool)) int {
	if _, ok := lookupEnv("GOMAXPROCS"); ok {
		return runtime.GOMAXPROCS(0)
	}
	runtime.GOMAXPROCS(1)
	return 1
}
