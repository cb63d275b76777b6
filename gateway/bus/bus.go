// Package bus owns one Modbus connection and serializes every request on it.
//
// It wraps goburrow/modbus v0.1.0, which keeps a broken TCP connection until
// its idle timer fires and, after a timeout, matches a late reply against the
// next request's transaction id (goburrow#64). Here any error other than a
// Modbus exception closes the connection, so the next request redials on a
// clean socket with no stale bytes.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/goburrow/modbus"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
)

// Options tune a bus.
type Options struct {
	// Timeout bounds each request; 0 means 1 s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Bus serializes requests for all unit ids behind one address.
type Bus struct {
	addr    string
	handler *modbus.TCPClientHandler
	client  modbus.Client
	jobs    chan job
	log     *slog.Logger
}

type job struct {
	ctx      context.Context
	unit     byte
	register fwconfig.RegisterType
	start    int
	count    int
	timeout  time.Duration
	done     chan result
}

type result struct {
	words []uint16
	at    time.Time
	err   error
}

// NewTCP returns a bus for a Modbus TCP address (host:port). Run must be
// called for it to serve requests.
func NewTCP(addr string, o Options) *Bus {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := modbus.NewTCPClientHandler(addr)
	h.Timeout = o.Timeout
	// We close on every error ourselves; the idle close only frees sockets of
	// devices polled rarely.
	h.IdleTimeout = 5 * time.Minute
	return &Bus{addr: addr, handler: h, client: modbus.NewClient(h), jobs: make(chan job), log: o.Logger.With("bus", addr)}
}

// Addr is the bus's address.
func (b *Bus) Addr() string { return b.addr }

// Run serves requests until ctx is done, then closes the connection.
func (b *Bus) Run(ctx context.Context) {
	defer b.handler.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-b.jobs:
			if j.ctx.Err() != nil {
				j.done <- result{err: j.ctx.Err()}
				continue
			}
			words, err := b.do(j)
			j.done <- result{words: words, at: time.Now(), err: err}
		}
	}
}

// Read reads count registers (or bits, as 0/1 words) of the given type from
// unit, and returns them with the time the response arrived.
func (b *Bus) Read(ctx context.Context, unit byte, register fwconfig.RegisterType, start, count int, timeout time.Duration) ([]uint16, time.Time, error) {
	j := job{ctx: ctx, unit: unit, register: register, start: start, count: count, timeout: timeout, done: make(chan result, 1)}
	select {
	case b.jobs <- j:
	case <-ctx.Done():
		return nil, time.Time{}, ctx.Err()
	}
	select {
	case r := <-j.done:
		return r.words, r.at, r.err
	case <-ctx.Done():
		return nil, time.Time{}, ctx.Err()
	}
}

func (b *Bus) do(j job) ([]uint16, error) {
	b.handler.SlaveId = j.unit
	if j.timeout > 0 {
		b.handler.Timeout = j.timeout
	}
	addr, qty := uint16(j.start), uint16(j.count)
	var raw []byte
	var err error
	switch j.register {
	case fwconfig.Coil:
		raw, err = b.client.ReadCoils(addr, qty)
	case fwconfig.Discrete:
		raw, err = b.client.ReadDiscreteInputs(addr, qty)
	case fwconfig.Holding:
		raw, err = b.client.ReadHoldingRegisters(addr, qty)
	case fwconfig.Input:
		raw, err = b.client.ReadInputRegisters(addr, qty)
	default:
		return nil, fmt.Errorf("unit %d: unknown register type %q", j.unit, j.register)
	}
	if err != nil {
		var mbErr *modbus.ModbusError
		if !errors.As(err, &mbErr) {
			// Anything but an exception may leave the socket out of step.
			b.handler.Close()
		}
		return nil, fmt.Errorf("%s unit %d %s %d+%d: %w", b.addr, j.unit, j.register, j.start, j.count, err)
	}
	if j.register.IsBit() {
		if len(raw) != (j.count+7)/8 {
			b.handler.Close()
			return nil, fmt.Errorf("%s unit %d %s %d+%d: %d data bytes, want %d", b.addr, j.unit, j.register, j.start, j.count, len(raw), (j.count+7)/8)
		}
		words := make([]uint16, j.count)
		for i := range words {
			words[i] = uint16(raw[i/8]>>(i%8)) & 1
		}
		return words, nil
	}
	if len(raw) != 2*j.count {
		b.handler.Close()
		return nil, fmt.Errorf("%s unit %d %s %d+%d: %d data bytes, want %d", b.addr, j.unit, j.register, j.start, j.count, len(raw), 2*j.count)
	}
	words := make([]uint16, j.count)
	for i := range words {
		words[i] = uint16(raw[2*i])<<8 | uint16(raw[2*i+1])
	}
	return words, nil
}
