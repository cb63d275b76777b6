// Package rawsock reads and writes a gateway's TCP connections (Modbus TCP
// devices, the MQTT broker) with raw system calls, so that they do not wake
// the Go runtime's monitor thread.
//
// Every system call made through package syscall, as net makes them, tells
// the runtime that the thread may block; the first one after the process
// was idle wakes the monitor thread (sysmon), which then polls every 20 µs
// until the process is idle again. A gateway is idle between a Modbus
// request and its reply, so it woke the monitor about twice per round trip:
// a quarter of its CPU polling 20 meters (docs/performance.md). The monitor
// is there to take the processor back from a thread blocked in a system
// call; a read or write of a non-blocking socket never blocks (waiting for
// data or room stays with the runtime's network poller, deadlines and Close
// included), so for these it has nothing to do.
//
// Elsewhere than on Linux, Wrap returns the connection as it is.
package rawsock
