package poll

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/bus"
	"github.com/boilerwatch/boilerwatch/gateway/plan"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Site is every bus and device of one gateway config.
type Site struct {
	Devices []*Device
	buses   map[string]*bus.Bus
}

// SiteOptions tune a site.
type SiteOptions struct {
	// Stamp maps a response's arrival time to the sample timestamp; nil is
	// the identity. Only accelerated simulator runs set it.
	Stamp func(time.Time) time.Time
	// OnStateChange, if set, is called with a device's new state each time
	// it changes (online, degraded, offline), from that device's polling
	// goroutine: it must not block for long. The gateway publishes its
	// status from it.
	OnStateChange func(device string, st telemetry.DeviceState)
	// OnPoll, if set, is called after each poll of a group with how long
	// it took, for the poll latency histogram.
	OnPoll func(device string, took time.Duration)
	// OnReadError, if set, is called with every request that failed (after
	// the busy retries), so errors can be counted by kind.
	OnReadError func(device string, err error)
	// Learned, if set, holds the holes devices showed (exception 2 for a
	// bridged read), kept across restarts: devices are planned around the
	// holes learned before, and add those they show.
	Learned *plan.Learned
}

// NewSite creates one bus per device address (or serial port) and the
// devices on them.
func NewSite(cfg *fwconfig.Gateway, o SiteOptions, log *slog.Logger) *Site {
	s := &Site{buses: map[string]*bus.Bus{}}
	for _, d := range cfg.Devices {
		key := d.Bus.Key
		if key == "" {
			// A config built in code: TCP on its address.
			d.Bus = fwconfig.Bus{Key: "tcp://" + d.Address, Transport: fwconfig.TCP, Address: d.Address}
			key = d.Bus.Key
		}
		var r Reader
		b := s.buses[key]
		if b == nil {
			var err error
			// The bus's default timeout is the first device's; every request
			// carries its own device's timeout anyway.
			b, err = bus.New(bus.Options{Bus: d.Bus, Timeout: d.Timeout.Duration, Logger: log})
			if err != nil {
				// Validation rules this out; keep the other devices running.
				log.Error("device not polled", "device", d.Name, "error", err)
				r = failing{err}
			} else {
				s.buses[key] = b
			}
		}
		if r == nil {
			r = b
		}
		dev := newDevice(d, r, log, o.Learned)
		if o.Stamp != nil {
			dev.stamp = o.Stamp
		}
		dev.onState = o.OnStateChange
		dev.onPoll, dev.onReadError = o.OnPoll, o.OnReadError
		s.Devices = append(s.Devices, dev)
	}
	return s
}

// failing is the bus of a device whose bus could not be built.
type failing struct{ err error }

func (f failing) Read(context.Context, byte, profile.RegisterType, int, int, time.Duration) ([]uint16, time.Time, error) {
	return nil, time.Time{}, f.err
}

// Buses is the number of buses.
func (s *Site) Buses() int { return len(s.buses) }

// BusStats reports every bus's counters by bus key.
func (s *Site) BusStats() map[string]bus.Stats {
	m := make(map[string]bus.Stats, len(s.buses))
	for k, b := range s.buses {
		m[k] = b.Stats()
	}
	return m
}

// Run runs every bus and polls every device, handing samples to out, until
// ctx is done; it returns after all its goroutines have stopped. Buses are
// independent: each has its own polling goroutine, so a device that never
// answers delays only the devices on its own bus.
func (s *Site) Run(ctx context.Context, out func(telemetry.Sample)) {
	var wg sync.WaitGroup
	for _, b := range s.buses {
		wg.Go(func() { b.Run(ctx) })
	}
	// The groups of the devices on one bus are polled by one goroutine
	// (runScheduled), in config order when due together.
	var keys []string
	byBus := map[string][]scheduled{}
	for _, d := range s.Devices {
		k := d.cfg.Bus.Key
		if byBus[k] == nil {
			keys = append(keys, k)
		}
		for i := range d.groups {
			byBus[k] = append(byBus[k], scheduled{d: d, group: i})
		}
	}
	for _, k := range keys {
		wg.Go(func() { runScheduled(ctx, byBus[k], out) })
	}
	wg.Wait()
}

// States reports every device's state, for the gateway status.
func (s *Site) States() map[string]telemetry.DeviceState {
	m := make(map[string]telemetry.DeviceState, len(s.Devices))
	for _, d := range s.Devices {
		m[d.Name()] = d.State()
	}
	return m
}

// String lists the buses, for logs.
func (s *Site) String() string {
	keys := make([]string, 0, len(s.buses))
	for k := range s.buses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Sprintf("%d devices on %v", len(s.Devices), keys)
}
