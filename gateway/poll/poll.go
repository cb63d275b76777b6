// Package poll reads a device's planned requests at its interval and turns
// each poll into one telemetry sample.
package poll

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/goburrow/modbus"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/plan"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Reader is the bus a device sits on.
type Reader interface {
	Read(ctx context.Context, unit byte, register fwconfig.RegisterType, start, count int, timeout time.Duration) ([]uint16, time.Time, error)
}

// Device polls one configured device.
type Device struct {
	cfg  fwconfig.Device
	reqs []plan.Request
	bus  Reader
	log  *slog.Logger
	// stamp maps the time a response arrived to the sample's timestamp:
	// the identity, except in accelerated simulator runs.
	stamp func(time.Time) time.Time

	mu       sync.Mutex
	state    string
	lastErr  string
	failures int
}

// Device states, as published in the gateway status.
const (
	Online   = "online"
	Degraded = "degraded"
	Offline  = "offline"
	Unknown  = "unknown"
)

// offlineAfter consecutive failed polls mark a device offline.
const offlineAfter = 3

// PlanOptions bridge gaps of up to 16 registers: reading 16 unused words
// costs 32 bytes, a round trip on RS-485 costs tens of milliseconds.
func PlanOptions() plan.Options { return plan.Options{MaxGap: 16} }

// NewDevice plans the device's requests.
func NewDevice(cfg fwconfig.Device, bus Reader, log *slog.Logger) *Device {
	return &Device{
		cfg:   cfg,
		reqs:  plan.Build(cfg.Spec.Points, PlanOptions()),
		bus:   bus,
		log:   log.With("device", cfg.Name),
		state: Unknown,
		stamp: func(t time.Time) time.Time { return t },
	}
}

// Plan is the device's requests per cycle.
func (d *Device) Plan() []plan.Request { return d.reqs }

// Name is the configured device name.
func (d *Device) Name() string { return d.cfg.Name }

// State returns the device's health.
func (d *Device) State() telemetry.DeviceState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return telemetry.DeviceState{State: d.state, LastError: d.lastErr}
}

// Poll performs one cycle. Every point gets a value with a quality; a point
// that could not be read is bad with the reason, never an older value.
func (d *Device) Poll(ctx context.Context) telemetry.Sample {
	s := telemetry.Sample{
		Device:  d.cfg.Name,
		Profile: d.cfg.Spec.Name,
		Class:   d.cfg.Spec.Class,
		Values:  make(map[string]telemetry.Value, len(d.cfg.Spec.Points)),
	}
	var last time.Time
	failed := 0
	var firstErr error
	for _, r := range d.reqs {
		words, at, err := d.bus.Read(ctx, byte(d.cfg.UnitID), r.Register, r.Start, r.Count, d.cfg.Timeout)
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			for _, p := range r.Points {
				s.Values[p.Name] = telemetry.Value{Q: telemetry.Bad, Err: errText(err)}
			}
			continue
		}
		last = at
		for _, p := range r.Points {
			off := p.Address - r.Start
			v, err := p.Decode(words[off : off+p.Words()])
			if err != nil {
				s.Values[p.Name] = telemetry.Value{Q: telemetry.Bad, Err: errText(err)}
				continue
			}
			s.Values[p.Name] = telemetry.Value{V: v, Q: telemetry.Good}
		}
	}
	if last.IsZero() {
		last = time.Now()
	}
	s.TS = d.stamp(last).UnixMilli()
	d.record(failed, len(d.reqs), firstErr)
	return s
}

func errText(err error) string {
	var mb *modbus.ModbusError
	if errors.As(err, &mb) {
		return mb.Error()
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func (d *Device) record(failed, total int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev := d.state
	switch {
	case failed == 0:
		d.failures = 0
		d.state = Online
		d.lastErr = ""
	case failed < total:
		d.failures = 0
		d.state = Degraded
		d.lastErr = err.Error()
	default:
		d.failures++
		d.lastErr = err.Error()
		if d.failures >= offlineAfter {
			d.state = Offline
		} else {
			d.state = Degraded
		}
	}
	if d.state != prev {
		d.log.Info("device state", "from", prev, "to", d.state, "error", d.lastErr)
	}
}

// Run polls at the device's interval, aligned to the wall clock (a 10 s
// interval polls at :00, :10, ...) so that polls do not drift, and hands
// every sample to out. It returns when ctx is done.
func (d *Device) Run(ctx context.Context, out func(telemetry.Sample)) {
	iv := d.cfg.Interval
	for {
		now := time.Now()
		next := now.Truncate(iv).Add(iv)
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		s := d.Poll(ctx)
		if ctx.Err() != nil {
			return
		}
		out(s)
	}
}
