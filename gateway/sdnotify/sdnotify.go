// Package sdnotify tells systemd that a service is ready and alive
// (sd_notify(3)), so that a unit with Type=notify and WatchdogSec restarts a
// gateway or collector that hangs, not only one that exits.
package sdnotify

import (
	"context"
	"net"
	"os"
	"strconv"
	"time"
)

// Notify sends state (e.g. "READY=1") to $NOTIFY_SOCKET. Without systemd
// it does nothing and returns nil.
func Notify(state string) error {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return nil
	}
	if sock[0] == '@' {
		sock = "\x00" + sock[1:] // abstract socket namespace
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// WatchdogInterval is half the interval systemd expects pings at
// ($WATCHDOG_USEC), or 0 when the watchdog is off.
func WatchdogInterval() time.Duration {
	us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0
	}
	return time.Duration(us) * time.Microsecond / 2
}

// Watchdog pings systemd while alive() holds, until ctx is done. A process
// whose main loop is stuck stops pinging and systemd restarts it.
func Watchdog(ctx context.Context, alive func() bool) {
	iv := WatchdogInterval()
	if iv == 0 {
		return
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if alive() {
				Notify("WATCHDOG=1")
			}
		}
	}
}
