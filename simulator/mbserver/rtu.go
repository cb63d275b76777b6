package mbserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/boilerwatch/boilerwatch/gateway/crc16"
)

// RTU framing (Modbus over Serial Line v1.02, 2.5.1): unit id, PDU, CRC-16
// low byte first. A frame ends with 3.5 character times of silence.
const (
	minRTU = 4   // unit, function, CRC
	maxRTU = 256 // unit, 253-byte PDU, CRC
	// rtuOverTCPGap ends a frame whose length its content does not tell
	// (an unknown function, a garbled frame) in a TCP stream. TCP delivers
	// in segments with no line timing, so this is generous; masters wait for
	// their answer far longer.
	rtuOverTCPGap = 50 * time.Millisecond
	// serialPoll is how often a waiting serial read checks its context.
	serialPoll = 100 * time.Millisecond
)

// RTUOptions configure ServeRTU.
type RTUOptions struct {
	// Baud is the line speed; it sets the silence that ends a frame (see
	// FrameGap). 0 means 9600.
	Baud int
	// FrameGap, if positive, overrides the silence that ends a frame. A
	// pseudo-terminal delivers each write at once rather than at line speed,
	// so a small fixed gap (1–5 ms) suits it.
	FrameGap time.Duration
	// Name identifies the port in logs and as Request.Remote (its path, say);
	// empty means "serial".
	Name string
}

// FrameGap is the inter-frame silence of RTU at a baud rate: 3.5 character
// times of 11 bits (start, 8 data, parity or second stop, stop), fixed at
// 1.75 ms above 19200 baud (Modbus over Serial Line v1.02, 2.5.1.1).
func FrameGap(baud int) time.Duration {
	if baud <= 0 {
		baud = 9600
	}
	if baud > 19200 {
		return 1750 * time.Microsecond
	}
	return time.Duration(3.5 * 11 * float64(time.Second) / float64(baud))
}

// serialAddr is the net.Addr of a serial port, so Request.Remote is never nil.
type serialAddr string

func (a serialAddr) Network() string { return "serial" }
func (a serialAddr) String() string  { return string(a) }

// rtuRequestLen tells the length of the request frame at the start of b from
// its content: n > 0 is the length, 0 means more bytes are needed to tell,
// and -1 means the function code does not tell (then only silence ends the
// frame). Function codes the server does not implement are included when
// their length is fixed, so they get exception 1 without waiting.
func rtuRequestLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case 1, 2, 3, 4, 5, 6, 8:
		return 8 // unit, function, 4 data bytes, CRC
	case 7, 11, 12, 17:
		return 4 // unit, function, CRC
	case 15, 16:
		if len(b) < 7 {
			return 0
		}
		return 9 + int(b[6]) // unit, function, address, quantity, byte count, values, CRC
	case 20, 21:
		if len(b) < 3 {
			return 0
		}
		return 5 + int(b[2])
	case 22:
		return 10
	case 23:
		if len(b) < 11 {
			return 0
		}
		return 13 + int(b[10])
	case 24:
		return 6
	case 43:
		if len(b) < 3 {
			return 0
		}
		if b[2] == 0x0E { // read device identification
			return 7
		}
	}
	return -1
}

// decodeRTU splits a frame into unit id and PDU after checking its CRC.
func decodeRTU(frame []byte) (unit byte, pdu []byte, err error) {
	if len(frame) < minRTU {
		return 0, nil, fmt.Errorf("RTU frame of %d bytes, want at least %d", len(frame), minRTU)
	}
	if len(frame) > maxRTU {
		return 0, nil, fmt.Errorf("RTU frame of %d bytes, want at most %d", len(frame), maxRTU)
	}
	if !crc16.Valid(frame) {
		return 0, nil, fmt.Errorf("RTU frame of %d bytes: bad CRC %02x%02x, want %04x",
			len(frame), frame[len(frame)-1], frame[len(frame)-2], crc16.Checksum(frame[:len(frame)-2]))
	}
	return frame[0], frame[1 : len(frame)-2], nil
}

// errSilence is what a byteSource returns when the line stayed silent.
var errSilence = errors.New("line silent")

// byteSource is where an RTU framer reads: a TCP connection or a serial port.
type byteSource interface {
	// read reads into p, waiting at most wait (<= 0: until bytes come or
	// the source fails). It returns errSilence when wait passed without a
	// byte, and ctx's error once ctx is done.
	read(ctx context.Context, p []byte, wait time.Duration) (int, error)
}

type deadlineReader interface {
	io.Reader
	SetReadDeadline(time.Time) error
}

// deadlineSource reads with read deadlines: net.Conn, and os.File on a
// terminal or pseudo-terminal (they are pollable).
type deadlineSource struct {
	r deadlineReader
	// poll bounds each wait so ctx is checked; 0 when something else
	// (closing the connection) unblocks the read.
	poll time.Duration
}

func (d *deadlineSource) read(ctx context.Context, p []byte, wait time.Duration) (int, error) {
	var end time.Time
	if wait > 0 {
		end = time.Now().Add(wait)
	}
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		dl := end
		if d.poll > 0 {
			if next := time.Now().Add(d.poll); dl.IsZero() || next.Before(dl) {
				dl = next
			}
		}
		if err := d.r.SetReadDeadline(dl); err != nil {
			return 0, err
		}
		n, err := d.r.Read(p)
		if n > 0 {
			return n, nil // a real error comes back on the next read
		}
		switch {
		case err == nil:
		case !errors.Is(err, os.ErrDeadlineExceeded):
			return 0, err
		case !end.IsZero() && !time.Now().Before(end):
			return 0, errSilence
		}
	}
}

// chanSource reads a port without deadlines in a goroutine of its own;
// stop ends that goroutine by closing the port.
type chanSource struct {
	ch      chan []byte
	err     error // set before ch is closed
	pending []byte
	quit    chan struct{}
	done    chan struct{}
}

func newChanSource(port io.ReadCloser) *chanSource {
	c := &chanSource{ch: make(chan []byte), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.ch)
		for {
			b := make([]byte, maxRTU)
			n, err := port.Read(b)
			if n > 0 {
				select {
				case c.ch <- b[:n]:
				case <-c.quit:
					return
				}
			}
			if err != nil {
				c.err = err
				return
			}
		}
	}()
	return c
}

func (c *chanSource) read(ctx context.Context, p []byte, wait time.Duration) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case b, ok := <-c.ch:
		if !ok {
			return 0, c.err
		}
		n := copy(p, b)
		c.pending = b[n:]
		return n, nil
	case <-timeout:
		return 0, errSilence
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// rtuConn frames RTU requests from a byte stream and answers them; it is
// owned by one goroutine.
type rtuConn struct {
	srv    *Server
	src    byteSource
	w      io.Writer
	nc     net.Conn // nil on a serial port
	proto  Protocol
	remote net.Addr
	gap    time.Duration // silence that ends a frame
	idle   time.Duration // close a TCP connection silent this long; 0: never
	buf    []byte
	out    []byte
}

// ServeRTUOverTCP accepts connections on ln and serves RTU frames (unit id,
// PDU, CRC; no MBAP header) on each, as a device behind a transparent
// serial-to-Ethernet converter or a 4G DTU answers. A frame is answered as
// soon as its length, told by its function code, has arrived with a valid
// CRC; anything else is ended by 50 ms of silence, then answered if its CRC
// is valid (exception 1 for an unknown function) and ignored otherwise, as a
// serial device ignores a corrupted frame. Life cycle as for Serve.
func (s *Server) ServeRTUOverTCP(ctx context.Context, ln net.Listener) error {
	return s.acceptLoop(ctx, ln, s.serveRTUConn)
}

func (s *Server) serveRTUConn(ctx context.Context, nc net.Conn) {
	c := &rtuConn{
		srv:    s,
		src:    &deadlineSource{r: nc}, // acceptLoop closes nc when ctx is done
		w:      nc,
		nc:     nc,
		proto:  ProtocolRTUOverTCP,
		remote: nc.RemoteAddr(),
		gap:    rtuOverTCPGap,
		idle:   max(s.idleTimeout, 0),
		buf:    make([]byte, 0, 2*maxRTU),
		out:    make([]byte, 0, maxRTU),
	}
	s.log.Debug("mbserver: RTU over TCP connection opened", "remote", c.remote)
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

// ServeRTU serves RTU on a serial port (or one end of a pseudo-terminal
// pair) until ctx is done, then returns nil; it returns an error if the port
// fails. Frames are delimited by silence: a frame ends when the line has
// been quiet for the frame gap (o.FrameGap, or 3.5 characters at o.Baud),
// and only then is it checked and answered, so the answer also leaves at
// least one frame gap after the request. A frame with a bad CRC, a
// truncated one or line noise is ignored, as a device on a shared bus does.
//
// The port must support read deadlines (os.File on a terminal does; they
// are how ctx is honoured) or be an io.Closer; in the latter case a read is
// done in a goroutine of its own and ServeRTU closes the port to end it.
func (s *Server) ServeRTU(ctx context.Context, port io.ReadWriter, o RTUOptions) error {
	name := o.Name
	if name == "" {
		name = "serial"
	}
	gap := o.FrameGap
	if gap <= 0 {
		gap = FrameGap(o.Baud)
	}
	var src byteSource
	if dr, ok := port.(deadlineReader); ok && dr.SetReadDeadline(time.Time{}) == nil {
		src = &deadlineSource{r: dr, poll: serialPoll}
	} else if rc, ok := port.(io.ReadCloser); ok {
		cs := newChanSource(rc)
		defer func() {
			close(cs.quit)
			rc.Close()
			<-cs.done
		}()
		src = cs
	} else {
		return fmt.Errorf("mbserver: serial port %s: %T supports neither read deadlines nor Close, so it could not be stopped", name, port)
	}
	c := &rtuConn{
		srv:    s,
		src:    src,
		w:      port,
		proto:  ProtocolRTU,
		remote: serialAddr(name),
		gap:    gap,
		buf:    make([]byte, 0, 2*maxRTU),
		out:    make([]byte, 0, maxRTU),
	}
	s.log.Debug("mbserver: serving RTU", "port", name, "baud", o.Baud, "frame_gap", gap)
	err := c.serve(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("mbserver: serial port %s: %w", name, err)
}

func (c *rtuConn) serve(ctx context.Context) error {
	buf := c.buf[:0]
	// discard drops what arrives until the line is silent, after a frame
	// longer than any request: its end cannot be told otherwise.
	discard := false
	for {
		wait := c.idle
		if len(buf) > 0 || discard {
			wait = c.gap
		}
		n, err := c.src.read(ctx, buf[len(buf):cap(buf)], wait)
		buf = buf[:len(buf)+n]
		if errors.Is(err, errSilence) {
			switch {
			case discard:
			case len(buf) == 0:
				return fmt.Errorf("no request for %v: %w", c.idle, os.ErrDeadlineExceeded)
			default:
				if err := c.frame(ctx, buf); err != nil {
					return err
				}
			}
			buf, discard = buf[:0], false
			continue
		}
		if err != nil {
			return err
		}
		if discard {
			buf = buf[:0]
			continue
		}
		if c.proto == ProtocolRTUOverTCP {
			// A TCP stream has no line timing to trust: a complete frame is
			// answered at once, which also serves pipelined requests.
			for len(buf) > 0 {
				n := rtuRequestLen(buf)
				if n <= 0 || len(buf) < n || !crc16.Valid(buf[:n]) {
					break
				}
				if err := c.handle(ctx, buf[:n]); err != nil {
					return err
				}
				buf = buf[:copy(buf, buf[n:])]
			}
		}
		if len(buf) == cap(buf) {
			c.srv.log.Debug("mbserver: RTU frame too long, ignored", "remote", c.remote, "bytes", len(buf))
			buf, discard = buf[:0], true
		}
	}
}

// frame handles what arrived before a silence: one frame, if its CRC says so.
func (c *rtuConn) frame(ctx context.Context, b []byte) error {
	if _, _, err := decodeRTU(b); err != nil {
		c.srv.log.Debug("mbserver: RTU frame ignored", "remote", c.remote, "err", err)
		return nil
	}
	return c.handle(ctx, b)
}

// handle answers one RTU frame whose CRC is valid.
func (c *rtuConn) handle(ctx context.Context, frame []byte) error {
	unit, pdu := frame[0], frame[1:len(frame)-2]
	req, derr := decodeRequest(pdu)
	req.Remote, req.Unit, req.Protocol = c.remote, unit, c.proto

	act := c.srv.decide(req)
	if act.Delay > 0 {
		if err := sleep(ctx, act.Delay); err != nil {
			return err
		}
	}
	if !act.Drop {
		adu, ok := c.srv.answer(append(c.out[:0], unit), req, derr, act)
		if ok {
			adu = crc16.Append(adu)
			if act.Rewrite != nil {
				adu = act.Rewrite(adu)
			}
			if act.BadCRC && len(adu) >= 2 {
				adu[len(adu)-1] ^= 0xA5
			}
			if err := c.write(ctx, adu, act); err != nil {
				return fmt.Errorf("write answer: %w", err)
			}
		}
	}
	if c.nc != nil && (act.Close || act.Reset) {
		if act.Reset {
			return errHookReset
		}
		return errHookClose
	}
	return nil
}

func (c *rtuConn) write(ctx context.Context, adu []byte, act Action) error {
	if len(adu) == 0 {
		return nil
	}
	if c.nc != nil && c.srv.idleTimeout > 0 {
		// A client that stops reading must not pin this goroutine forever.
		if err := c.nc.SetWriteDeadline(time.Now().Add(c.srv.idleTimeout)); err != nil {
			return err
		}
	}
	if act.Split > 1 {
		return writeSplit(ctx, c.w, adu, act.Split, act.SplitGap)
	}
	_, err := c.w.Write(adu)
	return err
}
