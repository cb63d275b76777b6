package bus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/goburrow/modbus"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/rawsock"
)

// Transports: how a bus reaches its devices. TCP carries MBAP frames over a
// socket, RTU over TCP carries RTU frames over a socket, RTU carries them on
// a serial port (serial_linux.go) with an inter-frame gap. Connecting,
// closing, and the transporter that writes a request and reads its framed
// reply.

// setUpTransport frames requests for the bus's transport: MBAP for TCP, RTU
// frames for RTU over TCP and for a serial port, which also keeps the
// inter-frame gap.
func (b *Bus) setUpTransport() error {
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
		return fmt.Errorf("bus %s: unknown transport %q", b.cfg.Key, b.cfg.Transport)
	}
	b.client = modbus.NewClient2(b.pk, b.tr)
	return nil
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
	c, err := b.open(ctx, deadline)
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
	b.tr.reused = false
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

// open dials the TCP address, or opens the serial port. A socket is read
// and written with raw system calls (gateway/rawsock): the bus is idle
// between each request and its reply, and every system call out of idle
// woke the Go runtime's monitor thread.
func (b *Bus) open(ctx context.Context, deadline time.Time) (stream, error) {
	if b.cfg.Transport == fwconfig.RTU {
		return openSerial(b.cfg)
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := (&net.Dialer{}).DialContext(dctx, "tcp", b.cfg.Address)
	if err != nil {
		return nil, err
	}
	return rawsock.Wrap(nc.(*net.TCPConn))
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
	// reused: the current connection has carried a reply (reset on
	// connect), so a failure before the next reply may be its idle close.
	reused bool
}

var _ modbus.Transporter = (*transporter)(nil)

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
		if !t.rtu && t.reused && peerClosed(err) {
			return nil, fmt.Errorf("%w: write request: %w", errIdleClosed, err)
		}
		return nil, fmt.Errorf("write request: %w", err)
	}
	var frame []byte
	if t.rtu {
		frame, err = readRTU(c, adu, t.buf[:])
	} else {
		frame, err = t.readMBAPReply(c, adu)
	}
	t.b.bytesIn.Add(uint64(len(frame)))
	if err != nil {
		if len(frame) == 0 && !t.rtu && t.reused && peerClosed(err) {
			return nil, fmt.Errorf("%w: %w", errIdleClosed, err)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("no reply within the timeout: %w", err)
		}
		return nil, err
	}
	t.reused = true
	return frame, nil
}

// readMBAPReply reads the MBAP reply to req, skipping (as stale) whole
// frames that answer an earlier request of this connection: a device that
// answered twice, its second answer arriving after the first was read.
// Bytes after the reply in the same read are stale too.
func (t *transporter) readMBAPReply(c stream, req []byte) ([]byte, error) {
	want := binary.BigEndian.Uint16(req)
	have := 0
	for range 4 {
		frame, surplus, err := readMBAP(c, t.buf[:], have)
		if err != nil || len(frame) < mbapHeader {
			return frame, err
		}
		// Behind by 1..255: ours, earlier. Any other id is not in step
		// and fails goburrow's check (Verify).
		if behind := want - binary.BigEndian.Uint16(frame); behind == 0 || behind > 255 {
			if surplus > 0 {
				t.b.stale.Add(uint64(surplus))
				t.b.log.Warn("discarded bytes after a reply", "bytes", surplus)
			}
			return frame, nil
		}
		t.b.stale.Add(uint64(len(frame)))
		t.b.log.Warn("discarded a reply to an earlier request", "bytes", len(frame))
		have = copy(t.buf[:], t.buf[len(frame):len(frame)+surplus])
	}
	return nil, fmt.Errorf("%w: only replies to earlier requests", ErrFrame)
}

// errIdleClosed: a request on a connection that served earlier ones failed
// before any byte of its reply, the way a connection the device closed
// while idle fails; exchange sends it again on a new connection.
var errIdleClosed = errors.New("connection closed while idle")

// peerClosed: errors of a connection the peer closed or reset.
func peerClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
