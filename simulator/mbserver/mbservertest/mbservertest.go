// Package mbservertest runs an mbserver for a test: on a free loopback port
// (Modbus TCP or RTU frames over TCP) or on a serial port the test opened,
// with its devices, a queue of faults for the next requests and a hook for
// the rest, stopped when the test ends.
//
//	srv := mbservertest.Start(t, mbservertest.Options{Devices: mbservertest.Units(mbservertest.PatternBank(), 1)})
//	srv.Fault(mbserver.Action{Drop: true}) // the next request gets no answer
//	b := bus.NewTCP(srv.Addr, ...)
package mbservertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/simulator/mbserver"
)

// Framing is how the server carries Modbus.
type Framing int

const (
	// TCP is Modbus TCP (MBAP header) on a loopback port.
	TCP Framing = iota
	// RTUOverTCP is RTU frames (unit, PDU, CRC) in a TCP stream on a
	// loopback port, as behind a transparent serial server.
	RTUOverTCP
	// Serial is RTU on Options.Port, a serial port or one end of a
	// pseudo-terminal pair, with Options.RTU's line settings.
	Serial
)

// Options configure a test server. The zero value serves Modbus TCP on a
// loopback port without devices: every request goes unanswered.
type Options struct {
	Framing Framing
	// Devices answer for their unit ids; SetDevice adds more later.
	Devices map[uint8]mbserver.Device
	// Hook decides how a request is answered when no Fault is queued; nil
	// answers normally. It runs on the connection's goroutine.
	Hook func(mbserver.Request) mbserver.Action
	// Port and RTU are the serial port and its settings, for Serial.
	Port io.ReadWriter
	RTU  mbserver.RTUOptions
	// Logger receives the server's events; nil discards them.
	Logger *slog.Logger
}

// Server is an mbserver serving for one test. The embedded *mbserver.Server
// gives SetDevice, RemoveDevice and Refuse.
type Server struct {
	*mbserver.Server
	// Addr is the loopback host:port clients dial (for Serial, RTU.Name).
	Addr string

	t        testing.TB
	o        Options
	requests atomic.Int64

	closedMu sync.Mutex
	closed   int
	closedCh chan struct{} // closed and replaced at each connection closed

	mu     sync.Mutex
	faults []mbserver.Action
	cancel context.CancelFunc
	done   chan error
}

// Start serves until the test ends (or Stop). It fails the test if it
// cannot listen, or if serving ends with an error.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{t: t, o: o, closedCh: make(chan struct{})}
	next := slog.DiscardHandler
	if o.Logger != nil {
		next = o.Logger.Handler()
	}
	s.Server = mbserver.NewServer(mbserver.Options{Logger: slog.New(&closeWatch{next: next, s: s}), Hook: s.decide})
	for unit, d := range o.Devices {
		s.SetDevice(unit, d)
	}
	switch o.Framing {
	case Serial:
		if o.Port == nil {
			t.Fatal("mbservertest: Serial framing without a Port")
		}
		s.Addr = o.RTU.Name
		s.run(func(ctx context.Context) error { return s.ServeRTU(ctx, o.Port, o.RTU) })
	default:
		s.listen("127.0.0.1:0")
	}
	t.Cleanup(s.Stop)
	return s
}

// decide is the server's hook: the oldest queued fault, else Options.Hook.
func (s *Server) decide(req mbserver.Request) mbserver.Action {
	s.requests.Add(1)
	s.mu.Lock()
	if len(s.faults) > 0 {
		a := s.faults[0]
		s.faults = s.faults[1:]
		s.mu.Unlock()
		return a
	}
	s.mu.Unlock()
	if s.o.Hook != nil {
		return s.o.Hook(req)
	}
	return mbserver.Action{}
}

// Fault queues actions for the next requests, one each, in order; requests
// after them are answered as Options.Hook says.
func (s *Server) Fault(acts ...mbserver.Action) {
	s.mu.Lock()
	s.faults = append(s.faults, acts...)
	s.mu.Unlock()
}

// Requests is the number of well-framed requests received so far.
func (s *Server) Requests() int64 { return s.requests.Load() }

// WaitClosed returns once the server has closed n connections in all (by
// a fault's Close or Reset, an idle timeout or the client's close): a
// client then has the FIN or RST in its socket. It fails the test after
// 10 s.
func (s *Server) WaitClosed(n int) {
	s.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		s.closedMu.Lock()
		got, ch := s.closed, s.closedCh
		s.closedMu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			s.t.Fatalf("mbservertest: %d connections closed within 10 s, want %d", got, n)
		}
	}
}

// closeWatch counts the connections the server closed from its log: it
// logs each one, after closing it, in logClosed.
type closeWatch struct {
	next slog.Handler
	s    *Server
}

func (h *closeWatch) Enabled(context.Context, slog.Level) bool { return true }

func (h *closeWatch) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasSuffix(r.Message, "connection closed") {
		h.s.closedMu.Lock()
		h.s.closed++
		close(h.s.closedCh)
		h.s.closedCh = make(chan struct{})
		h.s.closedMu.Unlock()
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *closeWatch) WithAttrs(as []slog.Attr) slog.Handler {
	return &closeWatch{next: h.next.WithAttrs(as), s: h.s}
}

func (h *closeWatch) WithGroup(name string) slog.Handler {
	return &closeWatch{next: h.next.WithGroup(name), s: h.s}
}

// listen serves on addr; a port just released may take a moment to bind
// again, so it retries for up to a second.
func (s *Server) listen(addr string) {
	s.t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("mbservertest: listen on %s: %v", addr, err)
	}
	s.Addr = ln.Addr().String()
	serve := s.Serve
	if s.o.Framing == RTUOverTCP {
		serve = s.ServeRTUOverTCP
	}
	s.run(func(ctx context.Context) error { return serve(ctx, ln) })
}

func (s *Server) run(serve func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s.mu.Lock()
	s.cancel, s.done = cancel, done
	s.mu.Unlock()
	go func() { done <- serve(ctx) }()
}

// Stop closes the listener (or leaves the serial port) and every
// connection, as a device that went away; clients are then refused. It
// returns once the server has stopped, and does nothing if it is stopped.
func (s *Server) Stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel, s.done = nil, nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			s.t.Errorf("mbservertest: serving %s: %v", s.Addr, err)
		}
	case <-time.After(10 * time.Second):
		s.t.Errorf("mbservertest: server on %s did not stop within 10 s", s.Addr)
	}
}

// Restart serves again on the same address after Stop, as a device that
// came back. A serial server cannot be restarted.
func (s *Server) Restart() {
	s.t.Helper()
	if s.o.Framing == Serial {
		s.t.Fatal("mbservertest: Restart of a serial server")
	}
	s.Stop()
	s.listen(s.Addr)
}

// PatternBank returns a bank of 1000 addresses per table in which holding
// and input register i hold 1000+i and coil and discrete input i are on
// for even i, so that every answer shows which addresses it came from.
func PatternBank() *mbserver.Bank {
	const n = 1000
	b := mbserver.NewBank(mbserver.BankSize{Coils: n, DiscreteInputs: n, HoldingRegisters: n, InputRegisters: n})
	regs, bits := make([]uint16, n), make([]bool, n)
	for i := range n {
		regs[i], bits[i] = uint16(1000+i), i%2 == 0
	}
	// The sizes fit by construction: these cannot fail.
	b.SetRegisters(mbserver.HoldingRegisters, 0, regs)
	b.SetRegisters(mbserver.InputRegisters, 0, regs)
	b.SetBits(mbserver.Coils, 0, bits)
	b.SetBits(mbserver.DiscreteInputs, 0, bits)
	return b
}

// Units maps each unit id to d, for Options.Devices.
func Units(d mbserver.Device, units ...uint8) map[uint8]mbserver.Device {
	m := make(map[uint8]mbserver.Device, len(units))
	for _, u := range units {
		m[u] = d
	}
	return m
}
