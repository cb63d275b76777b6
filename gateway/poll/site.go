package poll

import (
	"context"
	"log/slog"
	"sync"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/bus"
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
}

// NewSite creates one bus per device address and the devices on them.
func NewSite(cfg *fwconfig.Gateway, o SiteOptions, log *slog.Logger) *Site {
	s := &Site{buses: map[string]*bus.Bus{}}
	for _, d := range cfg.Devices {
		b := s.buses[d.Address]
		if b == nil {
			b = bus.NewTCP(d.Address, bus.Options{Timeout: d.Timeout, Logger: log})
			s.buses[d.Address] = b
		}
		dev := NewDevice(d, b, log)
		if o.Stamp != nil {
			dev.stamp = o.Stamp
		}
		s.Devices = append(s.Devices, dev)
	}
	return s
}

// Buses is the number of buses.
func (s *Site) Buses() int { return len(s.buses) }

// Run runs every bus and polls every device, handing samples to out, until
// ctx is done; it returns after all its goroutines have stopped.
func (s *Site) Run(ctx context.Context, out func(telemetry.Sample)) {
	var wg sync.WaitGroup
	for _, b := range s.buses {
		wg.Go(func() { b.Run(ctx) })
	}
	for _, d := range s.Devices {
		wg.Go(func() { d.Run(ctx, out) })
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
