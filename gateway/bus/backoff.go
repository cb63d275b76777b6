package bus

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
)

// Staying in step: what a bus does around a request so that a reply is
// always the answer to it. After a failed exchange it closes the socket or
// lets an RTU line settle; before a request it drains stale bytes, waits
// for silence when settling, and keeps the gaps devices need.

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
