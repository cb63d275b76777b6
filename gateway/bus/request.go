package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/goburrow/modbus"

	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

// The request path: a caller exchanges its request for the reply in its
// own goroutine while it holds the bus (one request at a time), so a poll
// costs no hand-over to another goroutine and back per request; Run only
// bounds the bus's life.

type job struct {
	ctx      context.Context
	unit     byte
	register profile.RegisterType
	start    int
	count    int
	timeout  time.Duration
	dst      []uint16
}

// Run lets the bus serve requests until ctx is done, then closes the
// connection once the request in flight (cut short by closing the
// connection) has returned. Requests wait for Run to start, and after it
// returns wait until their own context ends.
func (b *Bus) Run(ctx context.Context) {
	b.runCtx = ctx
	stop := context.AfterFunc(ctx, b.closeConn)
	defer stop()
	close(b.started)
	<-ctx.Done()
	b.hold <- struct{}{} // kept: no request after Run
	b.closeConn()
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
	j := job{ctx: ctx, unit: unit, register: register, start: start, count: count, timeout: timeout, dst: dst}
	select {
	case <-b.started:
		select {
		case b.hold <- struct{}{}:
			defer func() { <-b.hold }()
			if err := ctx.Err(); err != nil {
				return nil, time.Time{}, err
			}
			words, err := b.do(b.runCtx, j)
			return words, time.Now(), err
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
	return nil, time.Time{}, fmt.Errorf("%s unit %d %s %d+%d: %w", b.cfg.Key, unit, register, start, count, ctx.Err())
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

// exchange sends one request and decodes its reply.
func (b *Bus) exchange(runCtx context.Context, j job) ([]uint16, error) {
	timeout := j.timeout
	if timeout <= 0 {
		timeout = b.timeout
	}
	if err := b.ready(runCtx, j, timeout); err != nil {
		return nil, err
	}
	defer func() { b.lastUnit, b.lastEnd = int(j.unit), time.Now() }()
	// The deadline covers the whole exchange, and starts after the pauses.
	b.tr.deadline = j.deadline(timeout)
	b.pk.unit = j.unit
	raw, err := b.send(j)
	if errors.Is(err, errIdleClosed) {
		// The device closed the connection while it was idle (a TCP bus is
		// not drained before each request, see ready): send the read
		// again on a new connection, as the drain would have redialled.
		if err := b.reconnect(runCtx, j, b.tr.deadline, err); err != nil {
			return nil, err
		}
		raw, err = b.send(j)
	}
	if err != nil {
		return nil, err
	}
	return decodeWords(j, raw)
}

// reconnect closes the connection that failed with reason and connects
// again for j, by deadline.
func (b *Bus) reconnect(runCtx context.Context, j job, deadline time.Time, reason error) error {
	b.log.Debug("reconnecting", "reason", reason)
	b.closeConn()
	return b.connect(runCtx, j.ctx, deadline)
}

// ready brings the bus to where j can be sent: connected (again, if the
// device closed an idle connection), an RTU stream drained, an unsettled
// RTU line silent, and the gap since the previous request kept.
//
// A Modbus TCP stream is not drained: the drain cost a system call per
// request, and what it guarded against is handled where it is free. After
// any error but an exception the connection is closed, so a late reply
// never reaches the next request; bytes after a reply in the same read are
// dropped (readMBAP), a reply to an earlier request is recognised by its
// transaction id and skipped (transporter.Send), and a connection the
// device closed while idle fails the read before any reply byte, which is
// then sent again on a new connection (exchange). RTU frames carry no
// transaction id, so an RTU stream is still drained before each request.
func (b *Bus) ready(runCtx context.Context, j job, timeout time.Duration) error {
	deadline := j.deadline(timeout)
	if err := b.connect(runCtx, j.ctx, deadline); err != nil {
		return err
	}
	if b.pk.rtu {
		if err := b.drain(); err != nil {
			// The device closed an idle connection (or the port went
			// away): redial now rather than lose this request to it.
			if err := b.reconnect(runCtx, j, deadline, err); err != nil {
				return err
			}
		}
	}
	if b.settle {
		b.settle = false
		if err := b.waitSilence(j.ctx, timeout, 3*timeout); err != nil {
			return fmt.Errorf("waiting for a silent line: %w", err)
		}
	}
	return b.pause(j)
}

// deadline is timeout from now, or the caller's deadline if that is sooner.
func (j job) deadline(timeout time.Duration) time.Time {
	d := time.Now().Add(timeout)
	if cd, ok := j.ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// send has goburrow's client send the read request j and return the
// reply's data bytes.
func (b *Bus) send(j job) ([]byte, error) {
	addr, qty := uint16(j.start), uint16(j.count)
	switch j.register {
	case profile.Coil:
		return b.client.ReadCoils(addr, qty)
	case profile.Discrete:
		return b.client.ReadDiscreteInputs(addr, qty)
	case profile.Holding:
		return b.client.ReadHoldingRegisters(addr, qty)
	case profile.Input:
		return b.client.ReadInputRegisters(addr, qty)
	}
	return nil, fmt.Errorf("unknown register type %q", j.register)
}

// decodeWords unpacks a reply's data bytes into j.dst when it has room:
// registers big-endian, bits as 0/1 words.
func decodeWords(j job, raw []byte) ([]uint16, error) {
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
