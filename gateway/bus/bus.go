// Package bus owns one Modbus connection — a TCP socket or a serial port —
// and serializes every request on it.
//
// It uses goburrow/modbus v0.1.0 for what it does well (building request
// PDUs, its packagers' transaction-id and unit-id checks, exception
// decoding), frames requests and replies in buffers of its own instead of
// goburrow's, which allocate per request (packager.go), and replaces
// its transporters, which keep
// a broken TCP connection until an idle timer fires, match a late reply to
// the next request (goburrow#64), cannot carry RTU frames over TCP, and on a
// serial line read an exception reply by luck (rtuclient.go compares the
// reply's function code with request&0x80 instead of request|0x80). Here:
//
//   - any error other than a Modbus exception closes the connection, so the
//     next request redials (or reopens the port) on a clean stream;
//   - an RTU stream is drained of stale bytes before every request without
//     blocking, and a peer that closed the socket is noticed before
//     writing; a Modbus TCP stream needs no drain (a system call per
//     request): a reply to an earlier request is known by its transaction
//     id and skipped, and a read that finds the connection closed by the
//     device while idle is sent again on a new connection;
//   - replies are read frame by frame from the length the protocol gives
//     (MBAP length field, RTU function code and byte count), under one
//     deadline for the whole exchange, so a late reply is never taken for
//     the answer to a later request;
//   - RTU frames carry no transaction id, so after a request that got no
//     valid answer an RTU bus waits for the line to stay silent for one
//     timeout (discarding what arrives) before the next request: a reply
//     up to twice the timeout late is drained, not taken for the next
//     answer. A serial port is reopened only after an error of the port
//     itself; there is no connection to reset on a wire;
//   - a configurable gap separates requests, a longer one when the unit id
//     changes, and a pause follows each connect.
package bus

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goburrow/modbus"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
)

// Options tune a bus.
type Options struct {
	// Bus is the resolved configuration: transport, address or serial
	// port and line settings, and the pauses.
	Bus fwconfig.Bus
	// Timeout bounds each request when the caller gives none; 0 means 1 s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Stats count what a bus did since it was created.
type Stats struct {
	Requests   uint64 // requests sent
	Errors     uint64 // requests that failed, exceptions included
	Exceptions uint64 // Modbus exception replies
	Connects   uint64 // successful connects (dials or port opens)
	BytesOut   uint64 // bytes written, framing included
	BytesIn    uint64 // bytes of replies read, framing included
	Stale      uint64 // bytes drained before a request: late or spurious replies
}

// Bus serializes requests for all unit ids behind one address or port.
type Bus struct {
	cfg     fwconfig.Bus
	timeout time.Duration
	log     *slog.Logger
	// hold is taken by the goroutine exchanging a request (ReadInto), and
	// for good when Run returns; started is closed when Run has set runCtx.
	hold    chan struct{}
	started chan struct{}
	runCtx  context.Context

	// Owned by the holder of hold.
	pk       *packager
	tr       *transporter
	client   modbus.Client
	lastUnit int // -1 before the first request
	lastEnd  time.Time
	minGap   time.Duration // RTU inter-frame silence (3.5 character times)
	// settle: the last RTU request got no valid answer; wait for silence.
	settle bool

	mu   sync.Mutex // guards conn against Close from a cancelled context
	conn stream
	// drainer reads the current conn without blocking; built once per
	// connection, because a raw conn and its callback cost allocations.
	drainer *drainer

	requests, errs, exceptions, connects, bytesOut, bytesIn, stale atomic.Uint64
}

// stream is what a bus talks over: a TCP connection or a serial port opened
// as a pollable file. Both support deadlines and raw non-blocking reads.
type stream interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	Close() error
	SetDeadline(t time.Time) error
	SyscallConn() (syscall.RawConn, error)
}

// New returns a bus for the configuration. Run must be called for it to
// serve requests.
func New(o Options) (*Bus, error) {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	b := &Bus{cfg: o.Bus, timeout: o.Timeout, hold: make(chan struct{}, 1), started: make(chan struct{}), lastUnit: -1}
	if b.cfg.Key == "" {
		b.cfg.Key = string(b.cfg.Transport) + "://" + b.cfg.Address
	}
	b.log = o.Logger.With("bus", b.cfg.Key)
	if err := b.setUpTransport(); err != nil {
		return nil, err
	}
	return b, nil
}

// NewTCP returns a Modbus TCP bus for host:port.
func NewTCP(addr string, o Options) *Bus {
	o.Bus.Transport, o.Bus.Address = fwconfig.TCP, addr
	b, _ := New(o) // a TCP bus has no configuration that can fail
	return b
}

// Key identifies the bus (transport and address, or the serial port).
func (b *Bus) Key() string { return b.cfg.Key }

// Addr is the bus's address or serial port.
func (b *Bus) Addr() string { return b.cfg.Address }

// Stats returns the bus's counters; safe to call from any goroutine.
func (b *Bus) Stats() Stats {
	return Stats{
		Requests: b.requests.Load(), Errors: b.errs.Load(), Exceptions: b.exceptions.Load(),
		Connects: b.connects.Load(), BytesOut: b.bytesOut.Load(), BytesIn: b.bytesIn.Load(), Stale: b.stale.Load(),
	}
}
