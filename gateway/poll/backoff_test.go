package poll

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/bus"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// awayReader is a device that is away from gone (zero: from the start)
// until back (fake time), failing each request with fail, and otherwise
// answers. It records when it was asked.
type awayReader struct {
	gone time.Time
	back time.Time
	fail func() error
	cost time.Duration // how long a failed request takes (a timeout)

	mu    sync.Mutex
	asked []time.Time
}

func (r *awayReader) Read(ctx context.Context, unit byte, register profile.RegisterType, start, count int, timeout time.Duration) ([]uint16, time.Time, error) {
	now := time.Now()
	r.mu.Lock()
	r.asked = append(r.asked, now)
	r.mu.Unlock()
	if !now.Before(r.gone) && now.Before(r.back) {
		if r.cost > 0 {
			time.Sleep(r.cost)
		}
		return nil, time.Time{}, r.fail()
	}
	return make([]uint16, count), now, nil
}

func refusedErr() error {
	return fmt.Errorf("%w: %w", bus.ErrConnect, &net.OpError{Op: "dial", Net: "tcp",
		Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
}

func timedOut() error {
	return fmt.Errorf("unit 1 holding 0+1: no reply within the timeout: %w", os.ErrDeadlineExceeded)
}

// awayDevice is one device polled every second with the default
// offline_backoff (1 m).
func awayDevice(t *testing.T) fwconfig.Device {
	cfg := loadSite(t, map[string]string{"p": "name: one\nclass: o2_analyzer\nsource: test\npoints:\n  - {name: o2, register: input, address: 0, type: uint16}\n"},
		"  - {name: o2a, profile: one, address: '127.0.0.1:1', unit_id: 1, interval: 1s, timeout: 200ms}\n")
	return cfg.Devices[0]
}

// runDevice runs d, handing its samples to out, until stop returns.
func runDevice(d *Device, out func(telemetry.Sample)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx, out) }()
	return func() { cancel(); <-done }
}

// runAway polls a device that is away for 70 s (fake time) and returns
// how long after its return the first good value came, and the requests
// sent while it was away.
func runAway(t *testing.T, r *awayReader) (sinceBack time.Duration, awayRequests int) {
	cfg := awayDevice(t)
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		r.back = start.Add(70 * time.Second)
		d := NewDevice(cfg, r, quiet)
		var mu sync.Mutex
		var firstGood time.Time
		stop := runDevice(d, func(s telemetry.Sample) {
			mu.Lock()
			defer mu.Unlock()
			if s.Values["o2"].Q == telemetry.Good && firstGood.IsZero() {
				firstGood = time.Now()
			}
		})
		time.Sleep(200 * time.Second)
		stop()
		mu.Lock()
		defer mu.Unlock()
		if firstGood.IsZero() {
			t.Fatal("no good value within 130 s of the device's return")
		}
		sinceBack = firstGood.Sub(r.back)
		for _, at := range r.asked {
			if at.Before(r.back) {
				awayRequests++
			}
		}
	})
	return sinceBack, awayRequests
}

// A TCP device whose connection is refused (the device or its converter
// is restarting) costs nothing to ask: it is asked at every interval, so
// once it is back it is read again within one interval, not after the
// backoff (before: 58 s for a device back after 70 s).
func TestOfflineRefusedRetriedEveryInterval(t *testing.T) {
	t.Parallel()
	since, n := runAway(t, &awayReader{fail: refusedErr})
	if since > time.Second {
		t.Errorf("first good value %s after the device came back, want within one interval (1s)", since)
	}
	if n < 65 {
		t.Errorf("%d requests in 70 s away, want about one a second", n)
	}
}

// A device that times out (a dead unit on a shared RTU bus) costs its
// bus a timeout per request: it keeps backing off (1, 2, 4 … 60 s) so
// that the other devices on the bus are not starved.
func TestOfflineTimeoutKeepsBackingOff(t *testing.T) {
	t.Parallel()
	since, n := runAway(t, &awayReader{fail: timedOut, cost: 200 * time.Millisecond})
	// 3 polls to go offline, then probes 1, 2, 4, 8, 16, 32 s apart.
	if n < 6 || n > 12 {
		t.Errorf("%d requests in 70 s away, want 6..12 (backing off)", n)
	}
	if since > 61*time.Second {
		t.Errorf("first good value %s after the device came back, want within the backoff cap", since)
	}
}

// A device that is refused, then times out (the converter is up, the
// unit behind it dead), backs off from the first timeout.
func TestOfflineCauseChanges(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := 0
	r := &awayReader{fail: func() error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 10 {
			return refusedErr()
		}
		return timedOut()
	}}
	_, n := runAway(t, r)
	// 10 refused a second apart, then probes 1, 2, 4, 8, 16, 32 s apart.
	if n < 12 || n > 20 {
		t.Errorf("%d requests in 70 s away, want 12..20", n)
	}
}
