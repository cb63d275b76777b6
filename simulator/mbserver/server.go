// Package mbserver is a Modbus TCP server that behaves like a conforming
// field device: the server side of the boiler-room simulator.
//
// It implements function codes 1–6, 15 and 16 of the Modbus Application
// Protocol v1.1b3 over MBAP framing. Unit ids map to Devices (Bank is an
// in-memory one); a request for a unit without a device gets no answer, as
// on an RS-485 bus. Frames whose MBAP header cannot be trusted close the
// connection; well-framed but invalid requests get the exception a device
// would send. Options.Hook sees every request before it is executed, so a
// fault injector can delay, drop, garble or replace answers.
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
	IdleTimeout time.Duration
	// MaxConns is the number of concurrent connections per Serve call;
	// connections beyond it are closed on accept. 0 means DefaultMaxConns,
	// < 0 unlimited.
	MaxConns int
	// Hook, if set, is called for every well-framed request before the unit
	// is looked up or anything is executed, from the connection's goroutine.
	// Its Action decides how the server answers.
	Hook func(req Request) Action
}

// Action tells the server how to treat one request; the zero Action means
// "answer normally". Delay applies first; Drop overrides Exception and
// Rewrite; Close applies last, after whatever was sent.
type Action struct {
	// Delay holds the answer back (a slow device); later requests on the
	// same connection wait too, as they would on a real device.
	Delay time.Duration
	// Drop sends no answer at all; the request is not executed.
	Drop bool
	// Exception, if non-zero, is answered instead of executing the request,
	// even for a unit without a device (e.g. 0x0B from a gateway).
	Exception byte
	// Rewrite, if set, receives the encoded answer (MBAP header and PDU) and
	// returns the bytes to send instead: garbled, truncated or replaced. It
	// may modify adu in place; returning nothing sends nothing.
	Rewrite func(adu []byte) []byte
	// Close closes the connection after whatever was sent.
	Close bool
}

// Server serves Modbus TCP for a set of unit ids. Devices may be set and
// removed while it serves.
type Server struct {
	log         *slog.Logger
	idleTimeout time.Duration
	maxConns    int
	hook        func(Request) Action

	mu      sync.RWMutex
	devices [256]Device
}

// NewServer returns a server without devices.
func NewServer(opts Options) *Server {
	s := &Server{
		log:         opts.Logger,
		idleTimeout: opts.IdleTimeout,
		maxConns:    opts.MaxConns,
		hook:        opts.Hook,
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

// Serve accepts connections on ln and serves each in its own goroutine until
// ctx is done (it then returns nil) or ln fails (it returns that error). Either
// way it closes ln and every connection it accepted, and waits for their
// goroutines before returning. Serve may run on several listeners at once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
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

		go func() {
			defer wg.Done()
			s.serveConn(ctx, nc)
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

// conn is the state of one client connection, owned by its goroutine.
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
	defer nc.Close()
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
	switch {
	case ctx.Err() != nil, errors.Is(err, io.EOF), errors.Is(err, errHookClose), errors.Is(err, net.ErrClosed):
		s.log.Debug("mbserver: connection closed", "remote", c.remote, "reason", err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.log.Debug("mbserver: idle connection closed", "remote", c.remote, "idle_timeout", s.idleTimeout)
	default:
		s.log.Info("mbserver: connection closed", "err", fmt.Errorf("conn %v: %w", c.remote, err))
	}
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
	req.Remote, req.Transaction, req.Unit = c.remote, h.transaction, h.unit

	var act Action
	if c.srv.hook != nil {
		act = c.srv.hook(req)
	}
	if act.Delay > 0 {
		// Answers already due must not wait for this one.
		if err := c.flush(); err != nil {
			return err
		}
		t := time.NewTimer(act.Delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if !act.Drop {
		// Leave room for the MBAP header and fill it in place once the PDU
		// length is known, so the answer is built without copying.
		adu, ok := c.answer(c.out[:mbapLen], req, derr, act)
		if ok {
			appendHeader(adu[:0], req.Transaction, req.Unit, len(adu)-mbapLen)
			if act.Rewrite != nil {
				adu = act.Rewrite(adu)
			}
			if _, err := c.bw.Write(adu); err != nil {
				return fmt.Errorf("write answer: %w", err)
			}
		}
	}
	if act.Close {
		if err := c.flush(); err != nil {
			return err
		}
		return errHookClose
	}
	return nil
}

// answer appends the response PDU to dst. It reports false when the request
// gets no answer because no device serves the unit.
func (c *conn) answer(dst []byte, req Request, derr error, act Action) ([]byte, bool) {
	if act.Exception != 0 {
		return encodeException(dst, req.Function, act.Exception), true
	}
	dev := c.srv.device(req.Unit)
	if dev == nil {
		return dst, false
	}
	if derr != nil {
		c.srv.log.Debug("mbserver: invalid request", "err", fmt.Errorf("conn %v unit %d: %w", c.remote, req.Unit, derr))
		return encodeException(dst, req.Function, exceptionCode(derr)), true
	}
	bits, regs, err := execute(dev, req)
	if err != nil {
		code := exceptionCode(err)
		if code == ServerDeviceFailure.Code {
			c.srv.log.Warn("mbserver: device failure", "err", fmt.Errorf("conn %v unit %d function %d: %w", c.remote, req.Unit, req.Function, err))
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
