package mbserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/gateway/crc16"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"

	"github.com/goburrow/modbus"
)

func TestRTURequestLen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		b    []byte
		want int
	}{
		{"empty", nil, 0},
		{"unit only", []byte{1}, 0},
		{"read holding", []byte{1, 3}, 8},
		{"write single coil", []byte{1, 5, 0}, 8},
		{"write registers, count unknown yet", []byte{1, 16, 0, 0, 0, 2}, 0},
		{"write 2 registers", []byte{1, 16, 0, 0, 0, 2, 4}, 13},
		{"write 10 coils", []byte{1, 15, 0, 0, 0, 10, 2}, 11},
		{"read exception status", []byte{1, 7}, 4},
		{"read device id", []byte{1, 43, 0x0E}, 7},
		{"other MEI", []byte{1, 43, 0x0D}, -1},
		{"unknown function", []byte{1, 0x41}, -1},
		{"response function code", []byte{1, 0x83}, -1},
	}
	for _, tt := range tests {
		if got := rtuRequestLen(tt.b); got != tt.want {
			t.Errorf("%s: rtuRequestLen(% x) = %d, want %d", tt.name, tt.b, got, tt.want)
		}
	}
}

func TestFrameGap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		baud int
		want time.Duration
	}{
		{9600, 4010416 * time.Nanosecond},
		{0, 4010416 * time.Nanosecond},
		{19200, 2005208 * time.Nanosecond},
		{38400, 1750 * time.Microsecond},
		{115200, 1750 * time.Microsecond},
	}
	for _, tt := range tests {
		if got := FrameGap(tt.baud); got != tt.want {
			t.Errorf("FrameGap(%d) = %v, want %v", tt.baud, got, tt.want)
		}
	}
}

// rtuFrame builds an RTU request frame.
func rtuFrame(unit byte, pdu ...byte) []byte {
	return crc16.Append(append([]byte{unit}, pdu...))
}

// rtuAnswerLen is the length of an RTU answer from its first bytes, or 0.
func rtuAnswerLen(b []byte) int {
	if len(b) < 3 {
		return 0
	}
	switch fc := b[1]; {
	case fc&0x80 != 0:
		return 5
	case fc >= 1 && fc <= 4:
		return 5 + int(b[2])
	default:
		return 8
	}
}

// rtuTransporter carries goburrow's RTU frames over a TCP connection, so its
// independent RTU packager (CRC, unit id and length checks) checks ours.
type rtuTransporter struct {
	conn    net.Conn
	timeout time.Duration
}

func (tr *rtuTransporter) Send(req []byte) ([]byte, error) {
	tr.conn.SetDeadline(time.Now().Add(tr.timeout))
	if _, err := tr.conn.Write(req); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, maxRTU)
	for {
		var b [maxRTU]byte
		n, err := tr.conn.Read(b[:])
		buf = append(buf, b[:n]...)
		if n := rtuAnswerLen(buf); n > 0 && len(buf) >= n {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func startRTUOverTCP(t testing.TB, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeRTUOverTCP(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeRTUOverTCP returned %v after cancel, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("ServeRTUOverTCP did not return within 5 s of cancel")
		}
	})
	return ln.Addr().String()
}

func TestRTUOverTCPClient(t *testing.T) {
	t.Parallel()
	bank := newTestBank()
	bank.SetBits(DiscreteInputs, 10, []bool{true, false, true})
	bank.SetRegisters(InputRegisters, 99, []uint16{0xBEEF})
	srv := NewServer(Options{})
	srv.SetDevice(17, bank)
	addr := startRTUOverTCP(t, srv)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	h := modbus.NewRTUClientHandler("")
	h.SlaveId = 17
	c := modbus.NewClient2(h, &rtuTransporter{conn: nc, timeout: 2 * time.Second})

	tests := []struct {
		name string
		call func() ([]byte, error)
		want []byte
		code byte // expected exception, 0 for success
	}{
		{"FC5 write single coil", func() ([]byte, error) { return c.WriteSingleCoil(3, 0xFF00) }, []byte{0xFF, 0}, 0},
		{"FC15 write multiple coils", func() ([]byte, error) { return c.WriteMultipleCoils(90, 10, []byte{0b101, 0b10}) }, []byte{0, 10}, 0},
		{"FC1 read coils", func() ([]byte, error) { return c.ReadCoils(0, 4) }, []byte{0b1000}, 0},
		{"FC2 read discrete inputs", func() ([]byte, error) { return c.ReadDiscreteInputs(10, 3) }, []byte{0b101}, 0},
		{"FC6 write single register", func() ([]byte, error) { return c.WriteSingleRegister(0, 0x1234) }, []byte{0x12, 0x34}, 0},
		{"FC16 write multiple registers", func() ([]byte, error) { return c.WriteMultipleRegisters(1, 2, []byte{0, 7, 0xFF, 0xFE}) }, []byte{0, 2}, 0},
		{"FC3 read holding", func() ([]byte, error) { return c.ReadHoldingRegisters(0, 3) }, []byte{0x12, 0x34, 0, 7, 0xFF, 0xFE}, 0},
		{"FC4 read input", func() ([]byte, error) { return c.ReadInputRegisters(99, 1) }, []byte{0xBE, 0xEF}, 0},
		{"address past the table", func() ([]byte, error) { return c.ReadHoldingRegisters(99, 2) }, nil, 2},
	}
	for _, tt := range tests {
		got, err := tt.call()
		var mbErr *modbus.ModbusError
		switch {
		case tt.code != 0:
			if !errors.As(err, &mbErr) || mbErr.ExceptionCode != tt.code {
				t.Errorf("%s: err %v, want exception %d", tt.name, err, tt.code)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case !bytes.Equal(got, tt.want):
			t.Errorf("%s: % x, want % x", tt.name, got, tt.want)
		}
	}
}

// rtuRaw speaks RTU by hand over TCP, to send what a client would not.
type rtuRaw struct {
	conn    net.Conn
	pending []byte // read beyond the last answer
}

func dialRTU(t testing.TB, addr string) *rtuRaw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rtuRaw{conn: c}
}

func (r *rtuRaw) write(t testing.TB, b []byte) {
	t.Helper()
	r.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.conn.Write(b); err != nil {
		t.Fatal(err)
	}
}

// recv reads one answer by its length; it does not check the CRC.
func (r *rtuRaw) recv(timeout time.Duration) ([]byte, error) {
	r.conn.SetReadDeadline(time.Now().Add(timeout))
	buf := r.pending
	r.pending = nil
	for {
		if n := rtuAnswerLen(buf); n > 0 && len(buf) >= n {
			r.pending = buf[n:]
			return buf[:n], nil
		}
		var b [maxRTU]byte
		n, err := r.conn.Read(b[:])
		buf = append(buf, b[:n]...)
		if err != nil && n == 0 {
			return buf, err
		}
	}
}

func (r *rtuRaw) recvOK(t testing.TB) []byte {
	t.Helper()
	a, err := r.recv(2 * time.Second)
	if err != nil {
		t.Fatalf("reading answer: % x, %v", a, err)
	}
	if !crc16.Valid(a) {
		t.Fatalf("answer % x has a bad CRC", a)
	}
	return a
}

func (r *rtuRaw) expectSilence(t testing.TB, d time.Duration) {
	t.Helper()
	a, err := r.recv(d)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || len(a) > 0 {
		t.Fatalf("want silence, got % x, %v", a, err)
	}
}

func TestRTUOverTCPRaw(t *testing.T) {
	t.Parallel()
	bank := newTestBank()
	bank.SetRegisters(HoldingRegisters, 0, []uint16{0x0102, 0x0304})
	srv := NewServer(Options{})
	srv.SetDevice(1, bank)
	addr := startRTUOverTCP(t, srv)
	read := rtuFrame(1, 3, 0, 0, 0, 2)
	want := rtuFrame(1, 3, 4, 1, 2, 3, 4)
	badCRC := bytes.Clone(read)
	badCRC[len(badCRC)-1] ^= 0xFF

	tests := []struct {
		name   string
		chunks [][]byte // written with 100 ms (more than the frame gap) between them
		want   [][]byte // answers, in order
	}{
		{"one frame", [][]byte{read}, [][]byte{want}},
		{"two frames in one write", [][]byte{append(bytes.Clone(read), rtuFrame(1, 6, 0, 5, 0, 9)...)}, [][]byte{want, rtuFrame(1, 6, 0, 5, 0, 9)}},
		{"unknown unit is silent", [][]byte{rtuFrame(9, 3, 0, 0, 0, 2), read}, [][]byte{want}},
		{"bad CRC ignored", [][]byte{badCRC, read}, [][]byte{want}},
		{"garbage ignored", [][]byte{[]byte("AT+CSQ\r\n"), read}, [][]byte{want}},
		{"truncated frame ignored", [][]byte{read[:5], read}, [][]byte{want}},
		{"600 bytes of noise ignored", [][]byte{bytes.Repeat([]byte{0x55}, 600), read}, [][]byte{want}},
		{"unknown function: exception 1", [][]byte{rtuFrame(1, 0x41, 1, 2)}, [][]byte{rtuFrame(1, 0xC1, 1)}},
		{"device identification: exception 1", [][]byte{rtuFrame(1, 0x2B, 0x0E, 1, 0)}, [][]byte{rtuFrame(1, 0xAB, 1)}},
		{"quantity 0: exception 3", [][]byte{rtuFrame(1, 3, 0, 0, 0, 0)}, [][]byte{rtuFrame(1, 0x83, 3)}},
		{"quantity 126: exception 3", [][]byte{rtuFrame(1, 4, 0, 0, 0, 126)}, [][]byte{rtuFrame(1, 0x84, 3)}},
		{"past the table: exception 2", [][]byte{rtuFrame(1, 3, 0, 99, 0, 2)}, [][]byte{rtuFrame(1, 0x83, 2)}},
		{"FC16 byte count mismatch: exception 3", [][]byte{rtuFrame(1, 16, 0, 0, 0, 2, 2, 0, 1)}, [][]byte{rtuFrame(1, 0x90, 3)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := dialRTU(t, addr)
			for i, c := range tt.chunks {
				if i > 0 {
					time.Sleep(100 * time.Millisecond)
				}
				r.write(t, c)
			}
			for _, w := range tt.want {
				if got := r.recvOK(t); !bytes.Equal(got, w) {
					t.Errorf("answer % x, want % x", got, w)
				}
			}
			r.expectSilence(t, 150*time.Millisecond)
		})
	}

	t.Run("byte by byte", func(t *testing.T) {
		r := dialRTU(t, addr)
		for _, b := range read {
			r.write(t, []byte{b})
			time.Sleep(2 * time.Millisecond)
		}
		if got := r.recvOK(t); !bytes.Equal(got, want) {
			t.Errorf("answer % x, want % x", got, want)
		}
	})
	t.Run("idle connection closed", func(t *testing.T) {
		srv := NewServer(Options{IdleTimeout: 100 * time.Millisecond})
		srv.SetDevice(1, bank)
		r := dialRTU(t, startRTUOverTCP(t, srv))
		r.write(t, read[:3])
		r.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		// The half frame is ignored at the gap; then the line is idle.
		if _, err := io.ReadAll(r.conn); err != nil {
			t.Fatalf("want the server to close, got %v", err)
		}
	})
}

func TestRTUHook(t *testing.T) {
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
	addr := startRTUOverTCP(t, srv)
	set := func(a Action) { mu.Lock(); act = a; mu.Unlock() }
	read := rtuFrame(1, 3, 0, 0, 0, 2)
	want := rtuFrame(1, 3, 4, 0, 0, 0, 0)

	r := dialRTU(t, addr)
	set(Action{BadCRC: true})
	r.write(t, read)
	if got, err := r.recv(2 * time.Second); err != nil || crc16.Valid(got) || !bytes.Equal(got[:len(got)-2], want[:len(want)-2]) {
		t.Errorf("bad-CRC answer % x, %v", got, err)
	}

	set(Action{Split: 3, SplitGap: 60 * time.Millisecond})
	start := time.Now()
	r.write(t, read)
	if got := r.recvOK(t); !bytes.Equal(got, want) {
		t.Errorf("split answer % x, want % x", got, want)
	}
	if d := time.Since(start); d < 120*time.Millisecond {
		t.Errorf("answer in 3 pieces 60 ms apart came in %v", d)
	}

	set(Action{Drop: true})
	r.write(t, read)
	r.expectSilence(t, 200*time.Millisecond)

	set(Action{Delay: 150 * time.Millisecond})
	start = time.Now()
	r.write(t, read)
	r.recvOK(t)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("delayed answer came after %v", d)
	}

	set(Action{Exception: 6})
	r.write(t, read)
	if got := r.recvOK(t); !bytes.Equal(got, rtuFrame(1, 0x83, 6)) {
		t.Errorf("exception 6: % x", got)
	}

	set(Action{Reset: true})
	r.write(t, read)
	r.recvOK(t)
	r.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := r.conn.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after Reset: read %v, want connection reset", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 6 {
		t.Fatalf("hook saw %d requests, want 6", len(seen))
	}
	if r := seen[0]; r.Protocol != ProtocolRTUOverTCP || r.Unit != 1 || r.Function != 3 || r.Qty != 2 || r.Remote == nil {
		t.Errorf("hook request = %+v", r)
	}
}

func TestRefuse(t *testing.T) {
	t.Parallel()
	srv := NewServer(Options{})
	srv.SetDevice(1, newTestBank())
	addr := startServer(t, srv)
	read := []byte{3, 0, 0, 0, 1}
	old := dialRaw(t, addr)
	old.roundTrip(t, 1, 1, read)

	srv.Refuse(true)
	old.expectClosed(t)
	// The kernel completes the handshake and the server resets it at once:
	// the dial or the first read fails.
	if c, err := net.DialTimeout("tcp", addr, 3*time.Second); err == nil {
		c.SetDeadline(time.Now().Add(3 * time.Second))
		c.Write(adu(1, 1, read))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a refused connection was served")
		}
		c.Close()
	}

	srv.Refuse(false)
	dialRaw(t, addr).roundTrip(t, 2, 1, read)
}

// serialEnd is the master's end of a serial line in a test.
type serialEnd struct {
	w  io.Writer
	in chan []byte // what the server sent, in the pieces it arrived
}

func newSerialEnd(t testing.TB, rw io.ReadWriter) *serialEnd {
	e := &serialEnd{w: rw, in: make(chan []byte, 64)}
	go func() {
		// Ends when the test closes rw.
		for {
			b := make([]byte, 512)
			n, err := rw.Read(b)
			if n > 0 {
				e.in <- b[:n]
			}
			if err != nil {
				close(e.in)
				return
			}
		}
	}()
	return e
}

// recv collects bytes until the line has been silent for quiet, or timeout.
func (e *serialEnd) recv(timeout, quiet time.Duration) []byte {
	var out []byte
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		var q <-chan time.Time
		if len(out) > 0 {
			q = time.After(quiet)
		}
		select {
		case b, ok := <-e.in:
			if !ok {
				return out
			}
			out = append(out, b...)
		case <-q:
			return out
		case <-deadline.C:
			return out
		}
	}
}

// pipePort is a serial port without read deadlines.
type pipePort struct {
	*io.PipeReader
	*io.PipeWriter
}

func (p pipePort) Close() error {
	p.PipeReader.Close()
	return p.PipeWriter.Close()
}

func openTTY(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestServeRTU(t *testing.T) {
	t.Parallel()
	ports := []struct {
		name string
		open func(t *testing.T) (server io.ReadWriter, master io.ReadWriter)
	}{
		{"net.Pipe (deadlines)", func(t *testing.T) (io.ReadWriter, io.ReadWriter) {
			a, b := net.Pipe()
			t.Cleanup(func() { a.Close(); b.Close() })
			return a, b
		}},
		{"io.Pipe (no deadlines)", func(t *testing.T) (io.ReadWriter, io.ReadWriter) {
			r1, w1 := io.Pipe()
			r2, w2 := io.Pipe()
			t.Cleanup(func() { r1.Close(); r2.Close() })
			return pipePort{r1, w2}, pipePort{r2, w1}
		}},
		{"socat pseudo-terminal", func(t *testing.T) (io.ReadWriter, io.ReadWriter) {
			a, b := servicetest.PtyPair(t)
			return openTTY(t, a), openTTY(t, b)
		}},
	}
	read := rtuFrame(5, 3, 0, 0, 0, 2)
	want := rtuFrame(5, 3, 4, 0xAB, 0xCD, 0, 0)
	for _, pt := range ports {
		t.Run(pt.name, func(t *testing.T) {
			t.Parallel()
			bank := newTestBank()
			bank.SetRegisters(HoldingRegisters, 0, []uint16{0xABCD})
			srv := NewServer(Options{})
			srv.SetDevice(5, bank)
			port, master := pt.open(t)
			const gap = 20 * time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.ServeRTU(ctx, port, RTUOptions{Baud: 9600, FrameGap: gap, Name: "test"}) }()
			defer func() {
				cancel()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("ServeRTU returned %v after cancel, want nil", err)
					}
				case <-time.After(5 * time.Second):
					t.Errorf("ServeRTU did not return within 5 s of cancel")
				}
			}()
			m := newSerialEnd(t, master)
			send := func(b []byte) {
				t.Helper()
				if _, err := master.Write(b); err != nil {
					t.Fatal(err)
				}
			}

			start := time.Now()
			send(read)
			got := m.recv(2*time.Second, 50*time.Millisecond)
			if !bytes.Equal(got, want) {
				t.Fatalf("answer % x, want % x", got, want)
			}
			// The answer waits for the silence that ends the request.
			if d := time.Since(start); d < gap {
				t.Errorf("answer %v after the request, before the %v frame gap", d, gap)
			}

			tests := []struct {
				name   string
				chunks [][]byte // written 4 frame gaps apart
				want   []byte
			}{
				{"frame cut by a silence is ignored", [][]byte{read[:4], read[4:]}, nil},
				{"bad CRC ignored", [][]byte{append(bytes.Clone(read[:6]), 0, 0)}, nil},
				{"noise ignored", [][]byte{{0xFF, 0x00, 0xFF}}, nil},
				{"two frames without a gap are one bad frame", [][]byte{append(bytes.Clone(read), read...)}, nil},
				{"other unit silent", [][]byte{rtuFrame(6, 3, 0, 0, 0, 2)}, nil},
				{"exception 2", [][]byte{rtuFrame(5, 4, 0, 100, 0, 1)}, rtuFrame(5, 0x84, 2)},
				{"answered after all that", [][]byte{read}, want},
			}
			for _, tt := range tests {
				for i, c := range tt.chunks {
					if i > 0 {
						time.Sleep(4 * gap)
					}
					send(c)
				}
				// Silence is judged after 300 ms; an expected answer may take
				// longer on a loaded machine.
				wait := 300 * time.Millisecond
				if tt.want != nil {
					wait = 3 * time.Second
				}
				if got := m.recv(wait, 50*time.Millisecond); !bytes.Equal(got, tt.want) {
					t.Errorf("%s: answer % x, want % x", tt.name, got, tt.want)
				}
			}
		})
	}
}

// TestServeRTUPortFails: a port that fails ends ServeRTU with its error.
func TestServeRTUPortFails(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	srv := NewServer(Options{})
	done := make(chan error, 1)
	go func() { done <- srv.ServeRTU(context.Background(), a, RTUOptions{Name: "pipe"}) }()
	b.Close()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, io.EOF) {
			t.Errorf("ServeRTU = %v, want an error wrapping EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeRTU did not return after its port failed")
	}
	a.Close()

	var rw struct {
		io.Reader
		io.Writer
	}
	if err := srv.ServeRTU(context.Background(), rw, RTUOptions{}); err == nil {
		t.Error("ServeRTU accepted a port it could not stop")
	}
}

// FuzzDecodeRTU feeds arbitrary bytes to the RTU framer, as one frame and as
// a TCP stream cut at split, and checks that every answer is a well-formed
// frame for a request that was well-formed, and that nothing panics.
func FuzzDecodeRTU(f *testing.F) {
	f.Add(rtuFrame(1, 3, 0, 0, 0, 2), byte(3))
	f.Add(rtuFrame(1, 16, 0, 0, 0, 2, 4, 0, 1, 0, 2), byte(7))
	f.Add(append(rtuFrame(1, 6, 0, 1, 0, 9), rtuFrame(1, 1, 0, 0, 0, 9)...), byte(8))
	f.Add(rtuFrame(1, 0x41), byte(1))
	f.Add([]byte{1, 3, 0, 0, 0, 2, 0, 0}, byte(0))
	f.Add(bytes.Repeat([]byte{0x55}, 300), byte(100))
	f.Add(rtuFrame(1, 15, 0, 0, 0, 10, 2, 0xFF, 3), byte(5))
	bank := newTestBank()
	srv := NewServer(Options{})
	srv.SetDevice(1, bank)
	f.Fuzz(func(t *testing.T, data []byte, split byte) {
		// The frame decoder: accepts exactly the frames with a valid CRC.
		unit, pdu, err := decodeRTU(data)
		if err == nil {
			if len(data) < minRTU || len(data) > maxRTU || !crc16.Valid(data) {
				t.Fatalf("decodeRTU accepted % x", data)
			}
			if re := crc16.Append(append([]byte{unit}, pdu...)); !bytes.Equal(re, data) {
				t.Fatalf("decodeRTU(% x) re-encodes to % x", data, re)
			}
		}
		if n := rtuRequestLen(data); n != 0 && n != -1 && n < minRTU {
			t.Fatalf("rtuRequestLen(% x) = %d", data, n)
		}

		// The stream framer, over a scripted source.
		var out bytes.Buffer
		c := &rtuConn{
			srv: srv, w: &out, proto: ProtocolRTUOverTCP, remote: serialAddr("fuzz"),
			gap: time.Millisecond, buf: make([]byte, 0, 2*maxRTU), out: make([]byte, 0, maxRTU),
		}
		cut := min(int(split), len(data))
		c.src = &scriptSource{chunks: [][]byte{data[:cut], nil, data[cut:], nil}}
		if err := c.serve(context.Background()); !errors.Is(err, io.EOF) {
			t.Fatalf("serve ended with %v, want EOF", err)
		}
		for rest := out.Bytes(); len(rest) > 0; {
			n := rtuAnswerLen(rest)
			if n == 0 || n > len(rest) || !crc16.Valid(rest[:n]) || rest[0] != 1 {
				t.Fatalf("input % x: malformed answer % x", data, rest)
			}
			rest = rest[n:]
		}
	})
}

// scriptSource replays chunks; a nil chunk is a silence (seen only by a
// reader that waits for one); then EOF.
type scriptSource struct{ chunks [][]byte }

func (s *scriptSource) read(_ context.Context, p []byte, wait time.Duration) (int, error) {
	for len(s.chunks) > 0 && s.chunks[0] == nil && wait <= 0 {
		s.chunks = s.chunks[1:]
	}
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	c := s.chunks[0]
	if c == nil {
		s.chunks = s.chunks[1:]
		return 0, errSilence
	}
	n := copy(p, c)
	if n == len(c) {
		s.chunks = s.chunks[1:]
	} else {
		s.chunks[0] = c[n:]
	}
	return n, nil
}
