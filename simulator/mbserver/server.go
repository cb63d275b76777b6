// Package mbserver is a Modbus server that behaves like a conforming field
// device: the server side of the boiler-room simulator.
//
// It implements function codes 1–6, 15 and 16 of the Modbus Application
// Protocol v1.1b3 over three framings: Modbus TCP (MBAP, Serve), RTU frames
// carried in a TCP stream as by a transparent serial server (ServeRTUOverTCP)
// and RTU on a serial line or pseudo-terminal with CRC and inter-frame
// silence (ServeRTU). Unit ids map to Devices (Bank is an in-memory one); a
// request for a unit without a device gets no answer, as on an RS-485 bus.
// Frames that cannot be trusted close a TCP connection (MBAP) or are ignored
// (RTU, as a device ignores a frame with a bad CRC); well-framed but invalid
// requests get the exception a device would send. Options.Hook sees every
// request before it is executed, so a fault injector can delay, drop, garble
// or replace answers.
package mbserver

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults for zero Options fields.
const (
	DefaultIdleTimeout = 60 * time.Second
	DefaultMaxConns    = 2048
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Logger receives connection and protocol events; nil discards them.
	Logger *slog.Logger
	// IdleTimeout closes a connection that completes no request for this
	// long (also a half-sent frame). 0 means DefaultIdleTimeout, < 0 never.
	// It does not apply to a serial port, which has no connection to close.
	IdleTimeout time.Duration
	// MaxConns is the number of concurrent connections per Serve call;
	// connections beyond it are closed on accept. 0 means DefaultMaxConns,
	// < 0 unlimited.
	MaxConns int
	// Hook, if set, is called for every well-framed request before the unit
	// is looked up or anything is executed, from the connection's (or the
	// serial port's) goroutine. Its Action decides how the server answers.
	Hook func(req Request) Action
}

// Action tells the server how to treat one request; the zero Action means
// "answer normally". Delay applies first; Drop overrides everything that
// shapes an answer; Close and Reset apply last, after whatever was sent.
type Action struct {
	// Delay holds the answer back (a slow device); later requests on the
	// same connection wait too, as they would on a real device.
	Delay time.Duration
	// Drop sends no answer at all; the request is not executed.
	Drop bool
	// Exception, if non-zero, is answered instead of executing the request,
	// even for a unit without a device (e.g. 0x0B from a gateway).
	Exception byte
	// Rewrite, if set, receives the encoded answer and returns the bytes to
	// send instead: garbled, truncated or replaced. On Modbus TCP that is
	// the MBAP header and PDU; on RTU it is unit id, PDU and CRC. It may
	// modify adu in place; returning nothing sends nothing.
	Rewrite func(adu []byte) []byte
	// BadCRC corrupts the CRC of an RTU answer (after Rewrite). Modbus TCP
	// has no checksum, so it is ignored there.
	BadCRC bool
	// Split sends the answer in this many pieces (at most one per byte)
	// with SplitGap between them, as a slow serial server or a segmenting
	// TCP stack would; 0 or 1 sends it whole.
	Split    int
	SplitGap time.Duration
	// Close closes the connection after whatever was sent. Ignored on a
	// serial port, which cannot be closed by the device.
	Close bool
	// Reset closes the connection with a TCP reset (RST) instead of an
	// orderly close, as a device that reboots its network stack does.
	// Ignored on a serial port.
	Reset bool
}

// Server serves Modbus for a set of unit ids, over any number of listeners
// and serial ports at once. Devices may be set and removed while it serves.
type Server struct {
	log         *slog.Logger
	idleTimeout time.Duration
	maxConns    int
	hook        func(Request) Action

	mu      sync.RWMutex
	devices [256]Device

	// refusing closes every TCP connection as soon as it is accepted.
	refusing atomic.Bool
	connMu   sync.Mutex
	conns    map[net.Conn]struct{} // every live TCP connection, of every Serve call
}

// NewServer returns a server without devices.
func NewServer(opts Options) *Server {
	s := &Server{
		log:         opts.Logger,
		idleTimeout: opts.IdleTimeout,
		maxConns:    opts.MaxConns,
		hook:        opts.Hook,
		conns:       make(map[net.Conn]struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.idleTimeout == 0 {
		s.idleTimeout = DefaultIdleTimeout
	}
	if s.maxConns == 0 {
		s.maxConns = DefaultMaxConns
	}
	return s
}

// SetDevice makes d answer for unit, replacing any previous device.
func (s *Server) SetDevice(unit uint8, d Device) {
	s.mu.Lock()
	s.devices[unit] = d
	s.mu.Unlock()
}

// RemoveDevice makes unit silent again.
func (s *Server) RemoveDevice(unit uint8) {
	s.SetDevice(unit, nil)
}

func (s *Server) device(unit uint8) Device {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.devices[unit]
}

// Refuse makes the server refuse TCP clients while on is true: the
// connections it has are reset and new ones are reset as soon as they are
// accepted, like a device whose connection table is full or whose TCP
// stack is wedged. Serial ports are not affected.
func (s *Server) Refuse(on bool) {
	// Under connMu: a connection being accepted is either listed before
	// this (and reset here) or sees refusing after it.
	s.connMu.Lock()
	defer s.connMu.Unlock()
	s.refusing.Store(on)
	if !on {
		return
	}
	for nc := range s.conns {
		reset(nc)
	}
}

// reset closes a TCP connection with RST rather than FIN: with a zero
// linger time the kernel discards unsent data and resets the peer.
func reset(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	nc.Close()
}

// Serve accepts Modbus TCP connections on ln and serves each in its own
// goroutine until ctx is done (it then returns nil) or ln fails (it returns
// that error). Either way it closes ln and every connection it accepted, and
// waits for their goroutines before returning. Serve may run on several
// listeners at once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.acceptLoop(ctx, ln, s.serveConn)
}

// acceptLoop accepts connections on ln and runs serve for each in its own
// goroutine; see Serve for its life cycle.
func (s *Server) acceptLoop(ctx context.Context, ln net.Listener, serve func(context.Context, net.Conn)) error {
	ctx, cancel := context.WithCancel(ctx)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		conns   = make(map[net.Conn]struct{})
		stopped bool
	)
	defer wg.Wait()
	defer cancel()

	// Closing is what unblocks Accept and the connections' reads.
	wg.Add(1)
	context.AfterFunc(ctx, func() {
		defer wg.Done()
		mu.Lock()
		stopped = true
		for nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		ln.Close()
	})

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !transientAccept(err) {
				return fmt.Errorf("mbserver: accept on %v: %w", ln.Addr(), err)
			}
			// Out of file descriptors or an aborted handshake: keep serving
			// the connections we have and retry, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("mbserver: accept failed, retrying", "listener", ln.Addr(), "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0

		if s.refusing.Load() {
			s.log.Debug("mbserver: connection refused by fault", "listener", ln.Addr(), "remote", nc.RemoteAddr())
			reset(nc)
			continue
		}
		mu.Lock()
		if stopped {
			mu.Unlock()
			nc.Close()
			continue // the next Accept fails on the closed listener
		}
		if s.maxConns > 0 && len(conns) >= s.maxConns {
			mu.Unlock()
			s.log.Warn("mbserver: connection refused, limit reached", "remote", nc.RemoteAddr(), "max_conns", s.maxConns)
			nc.Close()
			continue
		}
		conns[nc] = struct{}{}
		wg.Add(1)
		mu.Unlock()
		s.connMu.Lock()
		refused := s.refusing.Load() // again: Refuse may have run since the check above
		if !refused {
			s.conns[nc] = struct{}{}
		}
		s.connMu.Unlock()
		if refused {
			reset(nc)
			mu.Lock()
			delete(conns, nc)
			mu.Unlock()
			wg.Done()
			continue
		}

		go func() {
			defer wg.Done()
			serve(ctx, nc)
			s.connMu.Lock()
			delete(s.conns, nc)
			s.connMu.Unlock()
			mu.Lock()
			delete(conns, nc)
			mu.Unlock()
		}()
	}
}

func transientAccept(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || (errors.As(err, &ne) && ne.Timeout())
}

// logClosed logs why a connection ended, quietly for the ordinary reasons.
func (s *Server) logClosed(remote net.Addr, err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, errHookClose), errors.Is(err, net.ErrClosed), errors.Is(err, context.Canceled):
		s.log.Debug("mbserver: connection closed", "remote", remote, "reason", err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.log.Debug("mbserver: idle connection closed", "remote", remote, "idle_timeout", s.idleTimeout)
	default:
		s.log.Info("mbserver: connection closed", "err", fmt.Errorf("conn %v: %w", remote, err))
	}
}

// conn is the state of one Modbus TCP client connection, owned by its goroutine.
type conn struct {
	srv    *Server
	nc     net.Conn
	remote net.Addr
	br     *bufio.Reader
	bw     *bufio.Writer
	in     [maxADU]byte
	out    []byte
}

// errHookClose ends a connection on the Hook's request.
var errHookClose = errors.New("closed by hook")

func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	c := &conn{
		srv:    s,
		nc:     nc,
		remote: nc.RemoteAddr(),
		// Sized for a few pipelined frames; a frame is at most 260 bytes.
		br:  bufio.NewReaderSize(nc, 1024),
		bw:  bufio.NewWriterSize(nc, 1024),
		out: make([]byte, 0, maxADU),
	}
	s.log.Debug("mbserver: connection opened", "remote", c.remote)
	err := c.serve(ctx)
	if errors.Is(err, errHookReset) {
		reset(nc)
	} else {
		nc.Close()
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	s.logClosed(c.remote, err)
}

func (c *conn) serve(ctx context.Context) error {
	for {
		if c.srv.idleTimeout > 0 {
			if err := c.nc.SetReadDeadline(time.Now().Add(c.srv.idleTimeout)); err != nil {
				return err
			}
		}
		if _, err := io.ReadFull(c.br, c.in[:mbapLen]); err != nil {
			return fmt.Errorf("read MBAP header: %w", err)
		}
		h, err := decodeHeader(c.in[:mbapLen])
		if err != nil {
			return err
		}
		pdu := c.in[mbapLen : mbapLen+int(h.length)-1]
		if _, err := io.ReadFull(c.br, pdu); err != nil {
			return fmt.Errorf("read PDU of transaction %d unit %d: %w", h.transaction, h.unit, err)
		}
		if err := c.handle(ctx, h, pdu); err != nil {
			return err
		}
		// Pipelined requests get their answers in one write; otherwise the
		// answer must leave now, because the client is waiting for it.
		if !c.frameBuffered() {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
}

// frameBuffered reports whether a complete next frame is already read.
func (c *conn) frameBuffered() bool {
	n := c.br.Buffered()
	if n < mbapLen {
		return false
	}
	h, err := c.br.Peek(mbapLen)
	if err != nil {
		return false
	}
	return n >= mbapLen-1+int(binary.BigEndian.Uint16(h[4:]))
}

func (c *conn) flush() error {
	if c.bw.Buffered() == 0 {
		return nil
	}
	if c.srv.idleTimeout > 0 {
		// A client that stops reading must not pin this goroutine forever.
		if err := c.nc.SetWriteDeadline(time.Now().Add(c.srv.idleTimeout)); err != nil {
			return err
		}
	}
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("write answer: %w", err)
	}
	return nil
}

// handle answers one well-framed request.
func (c *conn) handle(ctx context.Context, h mbap, pdu []byte) error {
	req, derr := decodeRequest(pdu)
	req.Remote, req.Transaction, req.Unit, req.Protocol = c.remote, h.transaction, h.unit, ProtocolTCP

	act := c.srv.decide(req)
	if act.Delay > 0 {
		// Answers already due must not wait for this one.
		if err := c.flush(); err != nil {
			return err
		}
		if err := sleep(ctx, act.Delay); err != nil {
			return err
		}
	}
	if !act.Drop {
		// Leave room for the MBAP header and fill it in place once the PDU
		// length is known, so the answer is built without copying.
		adu, ok := c.srv.answer(c.out[:mbapLen], req, derr, act)
		if ok {
			appendHeader(adu[:0], req.Transaction, req.Unit, len(adu)-mbapLen)
			if act.Rewrite != nil {
				adu = act.Rewrite(adu)
			}
			if act.Split > 1 {
				if err := c.flush(); err != nil {
					return err
				}
				if err := writeSplit(ctx, c.nc, adu, act.Split, act.SplitGap); err != nil {
					return fmt.Errorf("write answer: %w", err)
				}
			} else if _, err := c.bw.Write(adu); err != nil {
				return fmt.Errorf("write answer: %w", err)
			}
		}
	}
	if act.Close || act.Reset {
		if err := c.flush(); err != nil {
			return err
		}
		if act.Reset {
			return errHookReset
		}
		return errHookClose
	}
	return nil
}

// errHookReset ends a connection with a TCP reset on the Hook's request.
var errHookReset = fmt.Errorf("reset by hook: %w", errHookClose)

// decide asks the Hook, if any, how to treat req.
func (s *Server) decide(req Request) Action {
	if s.hook == nil {
		return Action{}
	}
	return s.hook(req)
}

// sleep waits d or until ctx is done.
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

// writeSplit writes b in n pieces of nearly equal size with gap between them.
func writeSplit(ctx context.Context, w io.Writer, b []byte, n int, gap time.Duration) error {
	n = min(n, len(b))
	for i := range n {
		lo, hi := i*len(b)/n, (i+1)*len(b)/n
		if _, err := w.Write(b[lo:hi]); err != nil {
			return err
		}
		if i < n-1 && gap > 0 {
			if err := sleep(ctx, gap); err != nil {
				return err
			}
		}
	}
	return nil
}

// answer appends the response PDU to dst. It reports false when the request
// gets no answer because no device serves the unit.
func (s *Server) answer(dst []byte, req Request, derr error, act Action) ([]byte, bool) {
	if act.Exception != 0 {
		return encodeException(dst, req.Function, act.Exception), true
	}
	dev := s.device(req.Unit)
	if dev == nil {
		return dst, false
	}
	if derr != nil {
		s.log.Debug("mbserver: invalid request", "err", fmt.Errorf("%v %v unit %d: %w", req.Protocol, req.Remote, req.Unit, derr))
		return encodeException(dst, req.Function, exceptionCode(derr)), true
	}
	bits, regs, err := execute(dev, req)
	if err != nil {
		code := exceptionCode(err)
		if code == ServerDeviceFailure.Code {
			s.log.Warn("mbserver: device failure", "err", fmt.Errorf("%v %v unit %d function %d: %w", req.Protocol, req.Remote, req.Unit, req.Function, err))
		}
		return encodeException(dst, req.Function, code), true
	}
	return encodeResponse(dst, req, bits, regs), true
}

// exceptionCode maps an error to the exception code to send.
func exceptionCode(err error) byte {
	var ex *Exception
	if errors.As(err, &ex) && ex != nil && ex.Code != 0 {
		return ex.Code
	}
	return ServerDeviceFailure.Code
}

// execute runs a decoded request on a device. A panicking device is a device
// failure for this request, not a crash of every other connection.
func execute(dev Device, req Request) (bits []bool, regs []uint16, err error) {
	defer func() {
		if p := recover(); p != nil {
			bits, regs = nil, nil
			err = fmt.Errorf("device panic: %v\n%s", p, debug.Stack())
		}
	}()
	t := table(req.Function)
	switch req.Function {
	case fcReadCoils, fcReadDiscreteInputs:
		bits, err = dev.ReadBits(t, req.Addr, req.Qty)
		if err == nil && len(bits) != int(req.Qty) {
			err = fmt.Errorf("device returned %d %v for quantity %d", len(bits), t, req.Qty)
		}
	case fcReadHoldingRegisters, fcReadInputRegisters:
		regs, err = dev.ReadRegisters(t, req.Addr, req.Qty)
		if err == nil && len(regs) != int(req.Qty) {
			err = fmt.Errorf("device returned %d %v for quantity %d", len(regs), t, req.Qty)
		}
	case fcWriteSingleCoil, fcWriteMultipleCoils:
		err = dev.WriteBits(req.Addr, req.Bits)
	case fcWriteSingleRegister, fcWriteMultipleRegisters:
		err = dev.WriteRegisters(req.Addr, req.Regs)
	default:
		err = fmt.Errorf("function %d: %w", req.Function, IllegalFunction)
	}
	return bits, regs, err
}
