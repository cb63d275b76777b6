package mbserver

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/goburrow/modbus"
)

// startServer serves srv on a fresh loopback port until the test ends and
// checks that Serve then returns nil.
func startServer(t testing.TB, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve returned %v after cancel, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return within 5 s of cancel")
		}
	})
	return ln.Addr().String()
}

func newTestBank() *Bank {
	return NewBank(BankSize{Coils: 100, DiscreteInputs: 100, HoldingRegisters: 100, InputRegisters: 100})
}

// newClient returns a goburrow client for unit and its handler, closed at test end.
func newClient(t testing.TB, addr string, unit byte, timeout time.Duration) (modbus.Client, *modbus.TCPClientHandler) {
	t.Helper()
	h := modbus.NewTCPClientHandler(addr)
	h.SlaveId = unit
	h.Timeout = timeout
	t.Cleanup(func() { h.Close() })
	return modbus.NewClient(h), h
}

func TestClientFunctionCodes(t *testing.T) {
	t.Parallel()
	bank := newTestBank()
	srv := NewServer(Options{})
	srv.SetDevice(1, bank)
	c, _ := newClient(t, startServer(t, srv), 1, 2*time.Second)

	if err := bank.SetBits(DiscreteInputs, 10, []bool{true, false, true}); err != nil {
		t.Fatal(err)
	}
	if err := bank.SetRegisters(InputRegisters, 99, []uint16{0xBEEF}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		call func() ([]byte, error)
		want []byte
	}{
		{"FC5 write single coil", func() ([]byte, error) { return c.WriteSingleCoil(3, 0xFF00) }, []byte{0xFF, 0}},
		{"FC15 write multiple coils", func() ([]byte, error) { return c.WriteMultipleCoils(90, 10, []byte{0b0000_0101, 0b10}) }, []byte{0, 10}},
		{"FC1 read coils", func() ([]byte, error) { return c.ReadCoils(0, 4) }, []byte{0b1000}},
		{"FC1 read coils at the end", func() ([]byte, error) { return c.ReadCoils(90, 10) }, []byte{0b0000_0101, 0b10}},
		{"FC2 read discrete inputs", func() ([]byte, error) { return c.ReadDiscreteInputs(10, 3) }, []byte{0b101}},
		{"FC6 write single register", func() ([]byte, error) { return c.WriteSingleRegister(0, 0x1234) }, []byte{0x12, 0x34}},
		{"FC16 write multiple registers", func() ([]byte, error) { return c.WriteMultipleRegisters(1, 2, []byte{0, 7, 0xFF, 0xFE}) }, []byte{0, 2}},
		{"FC3 read holding registers", func() ([]byte, error) { return c.ReadHoldingRegisters(0, 3) }, []byte{0x12, 0x34, 0, 7, 0xFF, 0xFE}},
		{"FC4 read input registers", func() ([]byte, error) { return c.ReadInputRegisters(99, 1) }, []byte{0xBE, 0xEF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got % x, want % x", got, tt.want)
			}
		})
	}

	// The writes landed in the bank where the simulator reads them.
	if got, _ := bank.Registers(HoldingRegisters, 0, 3); !reflect.DeepEqual(got, []uint16{0x1234, 7, 0xFFFE}) {
		t.Errorf("holding registers = %x", got)
	}
	if got, _ := bank.Bits(Coils, 90, 10); !reflect.DeepEqual(got, []bool{true, false, true, false, false, false, false, false, false, true}) {
		t.Errorf("coils 90.. = %v", got)
	}
}

// failingDevice answers every call with err, or panics when err is nil.
type failingDevice struct{ err error }

func (d failingDevice) ReadBits(Table, uint16, uint16) ([]bool, error) { return nil, d.fail() }
func (d failingDevice) ReadRegisters(Table, uint16, uint16) ([]uint16, error) {
	return nil, d.fail()
}
func (d failingDevice) WriteBits(uint16, []bool) error        { return d.fail() }
func (d failingDevice) WriteRegisters(uint16, []uint16) error { return d.fail() }
func (d failingDevice) fail() error {
	if d.err == nil {
		panic("device bug")
	}
	return d.err
}

// shortDevice returns one register too few, a device bug the server must catch.
type shortDevice struct{ Bank }

func (d *shortDevice) ReadRegisters(t Table, addr, qty uint16) ([]uint16, error) {
	return make([]uint16, qty-1), nil
}

func TestClientExceptions(t *testing.T) {
	t.Parallel()
	srv := NewServer(Options{})
	srv.SetDevice(1, newTestBank())
	srv.SetDevice(2, failingDevice{err: errors.New("sensor bus down")})
	srv.SetDevice(3, failingDevice{err: ServerDeviceBusy})
	srv.SetDevice(4, failingDevice{})
	srv.SetDevice(5, &shortDevice{})
	addr := startServer(t, srv)

	tests := []struct {
		name string
		unit byte
		call func(c modbus.Client) error
		code byte
	}{
		{"FC22 mask write is illegal", 1, func(c modbus.Client) error { _, err := c.MaskWriteRegister(0, 0xFF, 0); return err }, 1},
		{"FC24 read FIFO is illegal", 1, func(c modbus.Client) error { _, err := c.ReadFIFOQueue(0); return err }, 1},
		{"FC23 read/write is illegal", 1, func(c modbus.Client) error {
			_, err := c.ReadWriteMultipleRegisters(0, 1, 0, 1, []byte{0, 1})
			return err
		}, 1},
		{"FC3 one past the end", 1, func(c modbus.Client) error { _, err := c.ReadHoldingRegisters(99, 2); return err }, 2},
		{"FC4 start past the end", 1, func(c modbus.Client) error { _, err := c.ReadInputRegisters(100, 1); return err }, 2},
		{"FC1 one past the end", 1, func(c modbus.Client) error { _, err := c.ReadCoils(91, 10); return err }, 2},
		{"FC2 one past the end", 1, func(c modbus.Client) error { _, err := c.ReadDiscreteInputs(0, 101); return err }, 2},
		{"FC5 past the end", 1, func(c modbus.Client) error { _, err := c.WriteSingleCoil(100, 0); return err }, 2},
		{"FC6 past the end", 1, func(c modbus.Client) error { _, err := c.WriteSingleRegister(100, 0); return err }, 2},
		{"FC15 past the end", 1, func(c modbus.Client) error { _, err := c.WriteMultipleCoils(99, 2, []byte{3}); return err }, 2},
		{"FC16 past the end", 1, func(c modbus.Client) error {
			_, err := c.WriteMultipleRegisters(99, 2, []byte{0, 1, 0, 2})
			return err
		}, 2},
		{"FC15 byte count short", 1, func(c modbus.Client) error { _, err := c.WriteMultipleCoils(0, 10, []byte{3}); return err }, 3},
		{"FC16 byte count short", 1, func(c modbus.Client) error { _, err := c.WriteMultipleRegisters(0, 2, []byte{0, 1}); return err }, 3},
		{"FC16 byte count long", 1, func(c modbus.Client) error {
			_, err := c.WriteMultipleRegisters(0, 1, []byte{0, 1, 0, 2})
			return err
		}, 3},
		{"device error", 2, func(c modbus.Client) error { _, err := c.ReadHoldingRegisters(0, 1); return err }, 4},
		{"device busy", 3, func(c modbus.Client) error { _, err := c.WriteSingleRegister(0, 1); return err }, 6},
		{"device panic", 4, func(c modbus.Client) error { _, err := c.ReadCoils(0, 1); return err }, 4},
		{"device returns too few values", 5, func(c modbus.Client) error { _, err := c.ReadInputRegisters(0, 2); return err }, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newClient(t, addr, tt.unit, 2*time.Second)
			err := tt.call(c)
			var me *modbus.ModbusError
			if !errors.As(err, &me) {
				t.Fatalf("error = %v, want *modbus.ModbusError", err)
			}
			if me.ExceptionCode != tt.code {
				t.Errorf("exception code = %d, want %d (%v)", me.ExceptionCode, tt.code, err)
			}
		})
	}
}

func TestClientSeveralUnits(t *testing.T) {
	t.Parallel()
	srv := NewServer(Options{})
	units := []byte{1, 2, 17, 247, 255}
	for _, u := range units {
		b := newTestBank()
		if err := b.SetRegisters(HoldingRegisters, 0, []uint16{uint16(u) * 100}); err != nil {
			t.Fatal(err)
		}
		srv.SetDevice(u, b)
	}
	// One handler, one connection: the unit id is per request.
	c, h := newClient(t, startServer(t, srv), 0, 2*time.Second)
	for round := range 2 {
		for _, u := range units {
			h.SlaveId = u
			got, err := c.ReadHoldingRegisters(0, 1)
			if err != nil {
				t.Fatalf("round %d unit %d: %v", round, u, err)
			}
			if v := binary.BigEndian.Uint16(got); v != uint16(u)*100 {
				t.Errorf("unit %d read %d, want %d", u, v, uint16(u)*100)
			}
		}
	}
}

func TestClientUnknownUnit(t *testing.T) {
	t.Parallel()
	srv := NewServer(Options{})
	srv.SetDevice(1, newTestBank())
	addr := startServer(t, srv)
	c, h := newClient(t, addr, 9, 300*time.Millisecond)

	_, err := c.ReadHoldingRegisters(0, 1)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("unknown unit: error = %v, want a client timeout", err)
	}
	// The silence must not cost the connection: same handler, valid unit.
	h.SlaveId = 1
	if _, err := c.ReadHoldingRegisters(0, 1); err != nil {
		t.Fatalf("same connection after the timeout: %v", err)
	}
	c2, _ := newClient(t, addr, 1, time.Second)
	if _, err := c2.WriteSingleRegister(0, 5); err != nil {
		t.Fatalf("new connection after the timeout: %v", err)
	}
	// A unit removed while serving falls silent.
	srv.RemoveDevice(1)
	if _, err := c2.ReadHoldingRegisters(0, 1); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("removed unit: error = %v, want a client timeout", err)
	}
}

func TestSetDeviceWhileServing(t *testing.T) {
	t.Parallel()
	srv := NewServer(Options{})
	bank := newTestBank()
	srv.SetDevice(1, bank)
	addr := startServer(t, srv)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			srv.SetDevice(2, bank)
			srv.RemoveDevice(2)
			bank.SetRegisters(HoldingRegisters, 0, []uint16{1, 2})
		}
	})
	c, _ := newClient(t, addr, 1, 2*time.Second)
	for i := range 200 {
		if _, err := c.ReadHoldingRegisters(0, 2); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	cancel()
	wg.Wait()
}

func TestServeStops(t *testing.T) {
	t.Parallel()
	srv := NewServer(Options{})
	srv.SetDevice(1, newTestBank())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	rc := dialRaw(t, ln.Addr().String())
	rc.roundTrip(t, 1, 1, []byte{3, 0, 0, 0, 1})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	rc.expectClosed(t)
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("listener still accepts after Serve returned")
	}
}

func TestServeListenerFails(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Options{})
	srv.SetDevice(1, newTestBank())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	rc := dialRaw(t, ln.Addr().String())
	rc.roundTrip(t, 1, 1, []byte{3, 0, 0, 0, 1}) // answered: Serve has accepted rc
	ln.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Serve = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its listener closed")
	}
	rc.expectClosed(t)
}

func TestHook(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var act Action
	var seen []Request
	srv := NewServer(Options{Hook: func(req Request) Action {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, req)
		return act
	}})
	srv.SetDevice(1, newTestBank())
	addr := startServer(t, srv)
	set := func(a Action) { mu.Lock(); act = a; mu.Unlock() }

	rc := dialRaw(t, addr)
	read := []byte{3, 0, 0, 0, 2}

	set(Action{Delay: 150 * time.Millisecond})
	start := time.Now()
	rc.roundTrip(t, 1, 1, read)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("delayed answer came after %v", d)
	}

	set(Action{Drop: true})
	rc.send(t, 2, 1, read)
	rc.expectSilence(t, 200*time.Millisecond)

	set(Action{Exception: 0x0B})
	if got := rc.roundTrip(t, 3, 9, read); !reflect.DeepEqual(got, []byte{0x83, 0x0B}) {
		t.Errorf("injected exception for an absent unit: % x", got)
	}

	set(Action{Rewrite: func(adu []byte) []byte { adu[len(adu)-1] ^= 0xFF; return adu }})
	if got := rc.roundTrip(t, 4, 1, read); !reflect.DeepEqual(got, []byte{3, 4, 0, 0, 0, 0xFF}) {
		t.Errorf("garbled answer: % x", got)
	}

	set(Action{})
	if got := rc.roundTrip(t, 5, 1, read); !reflect.DeepEqual(got, []byte{3, 4, 0, 0, 0, 0}) {
		t.Errorf("normal answer after faults: % x", got)
	}

	set(Action{Close: true})
	rc.roundTrip(t, 6, 1, read)
	rc.expectClosed(t)

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 6 {
		t.Fatalf("hook saw %d requests, want 6", len(seen))
	}
	if r := seen[2]; r.Unit != 9 || r.Transaction != 3 || r.Function != 3 || r.Qty != 2 || r.Remote == nil {
		t.Errorf("hook request = %+v", r)
	}
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	// The busy connection outlives the timeout by far, with gaps far below
	// it: 50 ms sleeps that run long on a loaded machine do not close it.
	srv := NewServer(Options{IdleTimeout: 400 * time.Millisecond})
	srv.SetDevice(1, newTestBank())
	addr := startServer(t, srv)

	idle := dialRaw(t, addr)
	half := dialRaw(t, addr)
	half.write(t, []byte{0, 1, 0, 0, 0, 6, 1, 3}) // a frame cut short, then silence
	busy := dialRaw(t, addr)
	for i := range 12 {
		busy.roundTrip(t, uint16(i), 1, []byte{3, 0, 0, 0, 1})
		time.Sleep(50 * time.Millisecond)
	}
	idle.expectClosed(t)
	half.expectClosed(t)
}

func TestMaxConns(t *testing.T) {
	t.Parallel()
	srv := NewServer(Options{MaxConns: 2})
	srv.SetDevice(1, newTestBank())
	addr := startServer(t, srv)
	read := []byte{3, 0, 0, 0, 1}

	a := dialRaw(t, addr)
	a.roundTrip(t, 1, 1, read)
	b := dialRaw(t, addr)
	b.roundTrip(t, 1, 1, read)
	dialRaw(t, addr).expectClosed(t)

	// A freed slot is available again once the server has seen the close.
	a.conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dialRaw(t, addr)
		c.send(t, 1, 1, read)
		if _, err := c.recv(); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no slot after closing a connection: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.roundTrip(t, 2, 1, read)
}

func TestRawFraming(t *testing.T) {
	t.Parallel()
	srv := NewServer(Options{})
	bank := newTestBank()
	bank.SetRegisters(HoldingRegisters, 0, []uint16{0x0102, 0x0304})
	srv.SetDevice(1, bank)
	addr := startServer(t, srv)
	want := []byte{3, 4, 1, 2, 3, 4}
	read := []byte{3, 0, 0, 0, 2}

	t.Run("byte by byte", func(t *testing.T) {
		rc := dialRaw(t, addr)
		for _, b := range adu(0x1234, 1, read) {
			rc.write(t, []byte{b})
			time.Sleep(2 * time.Millisecond)
		}
		if tid, got := rc.recvOK(t); tid != 0x1234 || !reflect.DeepEqual(got, want) {
			t.Errorf("tid %#x answer % x", tid, got)
		}
	})
	t.Run("two requests in one write", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.write(t, append(adu(7, 1, read), adu(8, 1, []byte{6, 0, 5, 0, 9})...))
		if tid, got := rc.recvOK(t); tid != 7 || !reflect.DeepEqual(got, want) {
			t.Errorf("first: tid %d answer % x", tid, got)
		}
		if tid, got := rc.recvOK(t); tid != 8 || !reflect.DeepEqual(got, []byte{6, 0, 5, 0, 9}) {
			t.Errorf("second: tid %d answer % x", tid, got)
		}
	})
	t.Run("unknown unit is silent and the connection lives", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.write(t, append(adu(1, 9, read), adu(2, 1, read)...))
		if tid, got := rc.recvOK(t); tid != 2 || !reflect.DeepEqual(got, want) {
			t.Errorf("tid %d answer % x, want only tid 2", tid, got)
		}
	})

	exceptions := []struct {
		name string
		pdu  []byte
		code byte
	}{
		{"read 0 registers", []byte{3, 0, 0, 0, 0}, 3},
		{"read 126 registers", []byte{3, 0, 0, 0, 126}, 3},
		{"read 2001 coils", []byte{1, 0, 0, 0x07, 0xD1}, 3},
		{"coil value 0x1234", []byte{5, 0, 0, 0x12, 0x34}, 3},
		// 124 registers cannot be framed (PDU > 253 bytes); the quantity alone is wrong.
		{"write 124 registers", append([]byte{16, 0, 0, 0, 124, 246}, make([]byte, 246)...), 3},
		{"write 1969 coils", append([]byte{15, 0, 0, 0x07, 0xB1, 247}, make([]byte, 247)...), 3},
		{"PDU too short", []byte{4, 0, 0}, 3},
		{"address + quantity beyond 65536", []byte{3, 0xFF, 0xFF, 0, 2}, 2},
		{"encapsulated interface transport", []byte{0x2B, 0x0E, 1, 0}, 1},
		{"function code only", []byte{0x11}, 1},
	}
	for _, tt := range exceptions {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, addr)
			got := rc.roundTrip(t, 1, 1, tt.pdu)
			if w := []byte{tt.pdu[0] | 0x80, tt.code}; !reflect.DeepEqual(got, w) {
				t.Errorf("answer % x, want % x", got, w)
			}
			rc.roundTrip(t, 2, 1, read) // still served
		})
	}

	closing := []struct {
		name  string
		bytes []byte
	}{
		{"protocol id 1", []byte{0, 1, 0, 1, 0, 6, 1, 3, 0, 0, 0, 1}},
		{"length 0", []byte{0, 1, 0, 0, 0, 0, 1}},
		{"length 1", []byte{0, 1, 0, 0, 0, 1, 1}},
		{"length 255", append([]byte{0, 1, 0, 0, 0, 255, 1, 3}, make([]byte, 253)...)},
		{"length 65535", []byte{0, 1, 0, 0, 0xFF, 0xFF, 1, 3}},
		{"HTTP garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
	}
	for _, tt := range closing {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, addr)
			rc.write(t, tt.bytes)
			rc.expectClosed(t)
			dialRaw(t, addr).roundTrip(t, 1, 1, read) // others still served
		})
	}

	t.Run("truncated header then close", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.write(t, []byte{0, 1, 0})
		rc.conn.Close()
		dialRaw(t, addr).roundTrip(t, 1, 1, read)
	})
	t.Run("half-closed after a request still gets the answer", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.write(t, adu(3, 1, read))
		rc.conn.(*net.TCPConn).CloseWrite()
		if tid, got := rc.recvOK(t); tid != 3 || !reflect.DeepEqual(got, want) {
			t.Errorf("tid %d answer % x", tid, got)
		}
		rc.expectClosed(t)
	})
}

func TestIdleConnections(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	srv := NewServer(Options{})
	srv.SetDevice(1, newTestBank())
	addr := startServer(t, srv)

	const n = 1000
	idle := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		idle = append(idle, c)
	}
	c, _ := newClient(t, addr, 1, 2*time.Second)
	start := time.Now()
	for i := range 200 {
		if _, err := c.ReadHoldingRegisters(0, 10); err != nil {
			t.Fatalf("request %d with %d idle connections: %v", i, n, err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("200 requests took %v beside %d idle connections", d, n)
	}
	// The idle ones are being served too, not just parked in the backlog.
	rc := &rawConn{conn: idle[n-1]}
	rc.roundTrip(t, 1, 1, []byte{3, 0, 0, 0, 1})
}

// rawConn speaks MBAP by hand, to send what a well-behaved client would not.
type rawConn struct{ conn net.Conn }

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{conn: c}
}

// adu frames a PDU with an MBAP header.
func adu(tid uint16, unit byte, pdu []byte) []byte {
	return append(appendHeader(nil, tid, unit, len(pdu)), pdu...)
}

func (rc *rawConn) write(t testing.TB, b []byte) {
	t.Helper()
	rc.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := rc.conn.Write(b); err != nil {
		t.Fatal(err)
	}
}

func (rc *rawConn) send(t testing.TB, tid uint16, unit byte, pdu []byte) {
	t.Helper()
	rc.write(t, adu(tid, unit, pdu))
}

type rawAnswer struct {
	tid uint16
	pdu []byte
}

func (rc *rawConn) recv() (rawAnswer, error) {
	rc.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	var h [mbapLen]byte
	if _, err := io.ReadFull(rc.conn, h[:]); err != nil {
		return rawAnswer{}, err
	}
	m, err := decodeHeader(h[:])
	if err != nil {
		return rawAnswer{}, err
	}
	pdu := make([]byte, m.length-1)
	if _, err := io.ReadFull(rc.conn, pdu); err != nil {
		return rawAnswer{}, err
	}
	return rawAnswer{m.transaction, pdu}, nil
}

func (rc *rawConn) recvOK(t testing.TB) (uint16, []byte) {
	t.Helper()
	a, err := rc.recv()
	if err != nil {
		t.Fatalf("reading answer: %v", err)
	}
	return a.tid, a.pdu
}

// roundTrip sends one request and returns the answer PDU, checking the echoed tid.
func (rc *rawConn) roundTrip(t testing.TB, tid uint16, unit byte, pdu []byte) []byte {
	t.Helper()
	rc.send(t, tid, unit, pdu)
	got, resp := rc.recvOK(t)
	if got != tid {
		t.Fatalf("answer tid %d, want %d", got, tid)
	}
	return resp
}

func (rc *rawConn) expectClosed(t testing.TB) {
	t.Helper()
	rc.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	var b [512]byte
	for {
		_, err := rc.conn.Read(b[:])
		if err == nil {
			continue // an answer sent before closing
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("connection still open, want closed by the server")
		}
		return // EOF or reset
	}
}

func (rc *rawConn) expectSilence(t testing.TB, d time.Duration) {
	t.Helper()
	rc.conn.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	n, err := rc.conn.Read(b[:])
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("want silence, got %d bytes, %v", n, err)
	}
}
