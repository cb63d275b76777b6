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
//   - before every request the stream is drained of stale bytes without
//     blocking, and a peer that closed the socket is noticed before writing;
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
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goburrow/modbus"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
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
	jobs    chan job

	// Owned by the Run goroutine.
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

type job struct {
	ctx      context.Context
	unit     byte
	register profile.RegisterType
	start    int
	count    int
	timeout  time.Duration
	dst      []uint16
	done     chan result
}

// resultChans recycles the one-slot channels a read waits on: a poll
// makes one read per request, and a channel per read was the bus's only
// allocation of its own.
var resultChans = sync.Pool{New: func() any { return make(chan result, 1) }}

type result struct {
	words []uint16
	at    time.Time
	err   error
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
	b := &Bus{cfg: o.Bus, timeout: o.Timeout, jobs: make(chan job), lastUnit: -1}
	if b.cfg.Key == "" {
		b.cfg.Key = string(b.cfg.Transport) + "://" + b.cfg.Address
	}
	b.log = o.Logger.With("bus", b.cfg.Key)
	switch b.cfg.Transport {
	case fwconfig.TCP, "":
		b.cfg.Transport = fwconfig.TCP
		b.pk = &packager{verify: modbus.NewTCPClientHandler(b.cfg.Address)}
		b.tr = &transporter{b: b, rtu: false}
	case fwconfig.RTUOverTCP, fwconfig.RTU:
		// The RTU handler is used as a packager only: its serial transporter
		// is never called.
		b.pk = &packager{verify: modbus.NewRTUClientHandler(b.cfg.Address), rtu: true}
		b.tr = &transporter{b: b, rtu: true}
		if b.cfg.Transport == fwconfig.RTU {
			b.minGap = interFrameGap(b.cfg)
		}
	default:
		return nil, fmt.Errorf("bus %s: unknown transport %q", b.cfg.Key, b.cfg.Transport)
	}
	b.client = modbus.NewClient2(b.pk, b.tr)
	return b, nil
}

// NewTCP returns a Modbus TCP bus for host:port.
func NewTCP(addr string, o Options) *Bus {
	o.Bus.Transport, o.Bus.Address = fwconfig.TCP, addr
	b, _ := New(o) // a TCP bus has no configuration that can fail
	return b
}

// interFrameGap is the silence RTU needs between frames: 3.5 character
// times of 11 bits, fixed at 1.75 ms above 19200 baud (Modbus over Serial
// Line v1.02, §2.5.1.1).
func interFrameGap(c fwconfig.Bus) time.Duration {
	if c.Baud <= 0 || c.Baud > 19200 {
		return 1750 * time.Microsecond
	}
	return time.Duration(float64(time.Second) * 3.5 * 11 / float64(c.Baud))
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

// Run serves requests until ctx is done, then closes the connection. A
// request in flight when ctx ends is cut short by closing the connection.
func (b *Bus) Run(ctx context.Context) {
	stop := context.AfterFunc(ctx, b.closeConn)
	defer stop()
	defer b.closeConn()
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-b.jobs:
			if err := j.ctx.Err(); err != nil {
				j.done <- result{err: err}
				continue
			}
			words, err := b.do(ctx, j)
			j.done <- result{words: words, at: time.Now(), err: err}
		}
	}
}

// Read reads count registers (or bits, as 0/1 words) of the given type from
// unit, and returns them with the time the response arrived. timeout 0
// means the bus's default.
func (b *Bus) Read(ctx context.Context, unit byte, register profile.RegisterType, start, count int, timeout time.Duration) ([]uint16, time.Time, error) {
	return b.ReadInto(ctx, nil, unit, register, start, count, timeout)
}

// ReadInto is Read that decodes into dst when it has room, so a poller can
// reuse one buffer per request.
func (b *Bus) ReadInto(ctx context.Context, dst []uint16, unit byte, register profile.RegisterType, start, count int, timeout time.Duration) ([]uint16, time.Time, error) {
	done := resultChans.Get().(chan result)
	j := job{ctx: ctx, unit: unit, register: register, start: start, count: count, timeout: timeout, dst: dst, done: done}
	select {
	case b.jobs <- j:
	case <-ctx.Done():
		resultChans.Put(done)
		return nil, time.Time{}, fmt.Errorf("%s unit %d %s %d+%d: %w", b.cfg.Key, unit, register, start, count, ctx.Err())
	}
	// The bus always answers a job it took (bounded by the request's
	// deadline), so the result never outlives the caller's buffer, and the
	// channel is empty again when it goes back to the pool.
	r := <-done
	resultChans.Put(done)
	return r.words, r.at, r.err
}

func (b *Bus) do(runCtx context.Context, j job) ([]uint16, error) {
	b.requests.Add(1)
	words, err := b.exchange(runCtx, j)
	if err != nil {
		b.errs.Add(1)
		var mbErr *modbus.ModbusError
		if errors.As(err, &mbErr) {
			if mbErr.FunctionCode == functionCode(j.register)|0x80 {
				// An exception is a complete, valid frame: the stream is in step.
				b.exceptions.Add(1)
			} else {
				// goburrow reports any unexpected function code as an
				// exception; it is a garbled or foreign frame.
				err = fmt.Errorf("%w: reply function code 0x%02X to a request with 0x%02X", ErrFrame, mbErr.FunctionCode, functionCode(j.register))
				b.recover(err)
			}
		} else {
			b.recover(err)
		}
		return nil, fmt.Errorf("%s unit %d %s %d+%d: %w", b.cfg.Key, j.unit, j.register, j.start, j.count, err)
	}
	return words, nil
}

// recover puts the bus back in step after a failed exchange: a socket is
// closed (the next request redials); a serial port is kept unless the port
// itself failed, since closing it clears nothing on the wire; either way an
// RTU bus settles before its next request.
func (b *Bus) recover(err error) {
	if b.pk.rtu && !errors.Is(err, ErrConnect) {
		b.settle = true
	}
	if b.cfg.Transport == fwconfig.RTU && !portFailed(err) {
		return
	}
	b.closeConn()
}

// portFailed: errors from the operating system about the port itself, as
// opposed to timeouts and bad frames.
func portFailed(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrFrame) || errors.Is(err, ErrByteCount) {
		return false
	}
	var errno syscall.Errno
	var pe *os.PathError
	return errors.As(err, &errno) || errors.As(err, &pe) || errors.Is(err, ErrClosed) || errors.Is(err, net.ErrClosed)
}

// waitSilence reads and discards until the stream has been silent for
// quiet, or limit has passed: the late answer to a timed-out RTU request
// must not be read as the answer to the next one.
func (b *Bus) waitSilence(ctx context.Context, quiet, limit time.Duration) error {
	c := b.current()
	if c == nil {
		return net.ErrClosed
	}
	end := time.Now().Add(limit)
	n := 0
	defer func() {
		if n > 0 {
			b.stale.Add(uint64(n))
			b.log.Warn("discarded a late reply before the next request", "bytes", n)
		}
	}()
	for ctx.Err() == nil {
		d := time.Now().Add(quiet)
		if d.After(end) {
			d = end
		}
		if err := c.SetDeadline(d); err != nil {
			return err
		}
		m, err := c.Read(b.tr.drainBuf[:])
		n += m
		if m > 0 && time.Now().Before(end) {
			continue
		}
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		return err
	}
	return ctx.Err()
}

func functionCode(r profile.RegisterType) byte {
	switch r {
	case profile.Coil:
		return modbus.FuncCodeReadCoils
	case profile.Discrete:
		return modbus.FuncCodeReadDiscreteInputs
	case profile.Holding:
		return modbus.FuncCodeReadHoldingRegisters
	}
	return modbus.FuncCodeReadInputRegisters
}

// ExceptionCode returns the Modbus exception code err carries, if the
// device answered with an exception.
func ExceptionCode(err error) (byte, bool) {
	if err == nil {
		return 0, false
	}
	var mbErr *modbus.ModbusError
	if errors.As(err, &mbErr) {
		return mbErr.ExceptionCode, true
	}
	return 0, false
}

// NoAnswer reports whether err means the device could not be reached or did
// not answer at all (timeout, refused or reset connection), as opposed to a
// reply that was wrong. Further requests to it in the same cycle would only
// cost the bus another timeout.
func NoAnswer(err error) bool {
	if _, ok := ExceptionCode(err); ok {
		return false
	}
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, ErrConnect)
}

// ErrConnect marks a failure to dial or open the port.
var ErrConnect = errors.New("cannot connect")

func (b *Bus) exchange(runCtx context.Context, j job) ([]uint16, error) {
	timeout := j.timeout
	if timeout <= 0 {
		timeout = b.timeout
	}
	deadline := time.Now().Add(timeout)
	if d, ok := j.ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := b.connect(runCtx, j.ctx, deadline); err != nil {
		return nil, err
	}
	if err := b.drain(); err != nil {
		// The device closed an idle connection (or the port went away):
		// redial now rather than lose this request to it.
		b.log.Debug("reconnecting", "reason", err)
		b.closeConn()
		if err := b.connect(runCtx, j.ctx, deadline); err != nil {
			return nil, err
		}
	}
	if b.settle {
		b.settle = false
		if err := b.waitSilence(j.ctx, timeout, 3*timeout); err != nil {
			return nil, fmt.Errorf("waiting for a silent line: %w", err)
		}
	}
	if err := b.pause(j); err != nil {
		return nil, err
	}
	defer func() { b.lastUnit, b.lastEnd = int(j.unit), time.Now() }()
	// The deadline covers the whole exchange, and starts after the pauses.
	deadline = time.Now().Add(timeout)
	if d, ok := j.ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	b.tr.deadline = deadline
	b.pk.unit = j.unit
	addr, qty := uint16(j.start), uint16(j.count)
	var raw []byte
	var err error
	switch j.register {
	case profile.Coil:
		raw, err = b.client.ReadCoils(addr, qty)
	case profile.Discrete:
		raw, err = b.client.ReadDiscreteInputs(addr, qty)
	case profile.Holding:
		raw, err = b.client.ReadHoldingRegisters(addr, qty)
	case profile.Input:
		raw, err = b.client.ReadInputRegisters(addr, qty)
	default:
		return nil, fmt.Errorf("unknown register type %q", j.register)
	}
	if err != nil {
		return nil, err
	}
	words := j.dst
	if cap(words) < j.count {
		words = make([]uint16, j.count)
	}
	words = words[:j.count]
	if j.register.IsBit() {
		if len(raw) != (j.count+7)/8 {
			return nil, fmt.Errorf("%w: %d data bytes, want %d", ErrByteCount, len(raw), (j.count+7)/8)
		}
		for i := range words {
			words[i] = uint16(raw[i/8]>>(i%8)) & 1
		}
		return words, nil
	}
	if len(raw) != 2*j.count {
		return nil, fmt.Errorf("%w: %d data bytes, want %d", ErrByteCount, len(raw), 2*j.count)
	}
	for i := range words {
		words[i] = uint16(raw[2*i])<<8 | uint16(raw[2*i+1])
	}
	return words, nil
}

// ErrByteCount marks a well-framed reply carrying the wrong amount of data.
var ErrByteCount = errors.New("modbus: reply byte count does not match the request")

// connect makes sure a stream is open, dialling or opening the port.
func (b *Bus) connect(runCtx, ctx context.Context, deadline time.Time) error {
	b.mu.Lock()
	c := b.conn
	b.mu.Unlock()
	if c != nil {
		return nil
	}
	if runCtx.Err() != nil {
		return runCtx.Err()
	}
	var err error
	switch b.cfg.Transport {
	case fwconfig.RTU:
		c, err = openSerial(b.cfg)
	default:
		dctx, cancel := context.WithDeadline(ctx, deadline)
		var nc net.Conn
		nc, err = (&net.Dialer{}).DialContext(dctx, "tcp", b.cfg.Address)
		cancel()
		if err == nil {
			c = nc.(*net.TCPConn)
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConnect, err)
	}
	b.mu.Lock()
	if runCtx.Err() != nil {
		b.mu.Unlock()
		c.Close()
		return runCtx.Err()
	}
	b.conn = c
	b.mu.Unlock()
	b.connects.Add(1)
	b.log.Debug("connected")
	// A device that needs a moment after accepting (many serial servers and
	// PLC communication modules) gets it before the first request.
	if b.cfg.ConnectPause > 0 {
		if err := sleep(ctx, b.cfg.ConnectPause); err != nil {
			return err
		}
	}
	return nil
}

// pause waits out the gap this request owes the previous one.
func (b *Bus) pause(j job) error {
	if b.lastUnit < 0 {
		return nil
	}
	gap := max(b.cfg.RequestGap, b.minGap)
	if int(j.unit) != b.lastUnit {
		gap = max(gap, b.cfg.UnitGap)
	}
	if wait := time.Until(b.lastEnd.Add(gap)); wait > 0 {
		return sleep(j.ctx, wait)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (b *Bus) closeConn() {
	b.mu.Lock()
	c := b.conn
	b.conn = nil
	b.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// current is the open stream, or nil.
func (b *Bus) current() stream {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conn
}

// transporter implements modbus.Transporter over the bus's stream with our
// own framing, so that NewClient2 can combine it with either packager.
type transporter struct {
	b        *Bus
	rtu      bool
	deadline time.Time
	buf      [maxFrame]byte
	drainBuf [512]byte
}

// drain discards whatever the stream holds before a request: a reply that
// arrived after its request timed out, or noise on a serial line. It
// reports ErrClosed when the peer has closed the connection.
func (b *Bus) drain() error {
	c := b.current()
	if c == nil {
		return net.ErrClosed
	}
	// A raw read fails at once while an expired deadline is set.
	if err := c.SetDeadline(time.Time{}); err != nil {
		return err
	}
	if b.drainer == nil || b.drainer.c != c {
		b.drainer = newDrainer(c, b.tr.drainBuf[:])
	}
	n, err := b.drainer.drain()
	if n > 0 {
		b.stale.Add(uint64(n))
		b.log.Warn("discarded stale bytes before a request", "bytes", n)
	}
	return err
}

var _ modbus.Transporter = (*transporter)(nil)

// ErrClosed is returned when the peer closed the connection between requests.
var ErrClosed = errors.New("connection closed by the device")

// Send writes one request ADU and reads its reply. The returned slice
// aliases the transporter's buffer; the client decodes it before the next
// Send.
func (t *transporter) Send(adu []byte) ([]byte, error) {
	c := t.b.current()
	if c == nil {
		return nil, net.ErrClosed
	}
	if err := c.SetDeadline(t.deadline); err != nil {
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	w, err := c.Write(adu)
	t.b.bytesOut.Add(uint64(w))
	if err != nil {
		return nil, fmt.Errorf("write request: %w", err)
	}
	var frame []byte
	if t.rtu {
		frame, err = readRTU(c, adu, t.buf[:])
	} else {
		frame, err = readMBAP(c, t.buf[:])
	}
	t.b.bytesIn.Add(uint64(len(frame)))
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("no reply within the timeout: %w", err)
		}
		return nil, err
	}
	return frame, nil
}
