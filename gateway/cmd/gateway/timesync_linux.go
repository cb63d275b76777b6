package main

import (
	"syscall"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Kernel clock states (adjtimex(2)).
const (
	timeError = 5      // TIME_ERROR: the clock is not synchronised
	staUnsync = 0x0040 // STA_UNSYNC: the clock is not synchronised
)

// clockState asks the kernel whether NTP (or chrony, or systemd-timesyncd)
// keeps the clock synchronised: a gateway without it stamps samples with a
// drifting or wrong time, which the collector cannot detect on its own.
func clockState() string {
	var tx syscall.Timex // Modes 0: read only
	state, err := syscall.Adjtimex(&tx)
	if err != nil {
		return telemetry.ClockUnknown
	}
	return syncState(state, int64(tx.Status))
}

// syncState interprets adjtimex's result.
func syncState(state int, status int64) string {
	if state == timeError || status&staUnsync != 0 {
		return telemetry.ClockUnsynchronised
	}
	return telemetry.ClockSynchronised
}
