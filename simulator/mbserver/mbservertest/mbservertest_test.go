package mbservertest_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goburrow/modbus"

	"github.com/boilerwatch/boilerwatch/gateway/crc16"
	"github.com/boilerwatch/boilerwatch/simulator/mbserver"
	"github.com/boilerwatch/boilerwatch/simulator/mbserver/mbservertest"
)

func tcpClient(t *testing.T, addr string, unit byte) modbus.Client {
	t.Helper()
	h := modbus.NewTCPClientHandler(addr)
	h.SlaveId, h.Timeout = unit, 2*time.Second
	t.Cleanup(func() { h.Close() })
	return modbus.NewClient(h)
}

// Faults apply to the next requests in order, then the hook decides; the
// pattern bank answers every unit it is mapped to.
func TestTCPFaultsThenHook(t *testing.T) {
	t.Parallel()
	var hooked atomic.Int64
	srv := mbservertest.Start(t, mbservertest.Options{
		Devices: mbservertest.Units(mbservertest.PatternBank(), 1, 2),
		Hook: func(r mbserver.Request) mbserver.Action {
			hooked.Add(1)
			if r.Addr == 999 {
				return mbserver.Action{Exception: 6}
			}
			return mbserver.Action{}
		},
	})
	srv.Fault(mbserver.Action{Exception: 2}, mbserver.Action{Exception: 4})
	c := tcpClient(t, srv.Addr, 1)
	for i, want := range []string{"exception '2'", "exception '4'"} {
		if _, err := c.ReadHoldingRegisters(0, 1); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("request %d: %v, want %s", i, err, want)
		}
	}
	got, err := c.ReadHoldingRegisters(10, 2)
	if err != nil || !bytes.Equal(got, []byte{0x03, 0xF2, 0x03, 0xF3}) { // 1010, 1011
		t.Errorf("holding 10+2: % X %v, want 1010 1011", got, err)
	}
	if got, err := c.ReadCoils(0, 3); err != nil || !bytes.Equal(got, []byte{0b101}) {
		t.Errorf("coils 0+3: % X %v, want 05", got, err)
	}
	if _, err := c.ReadInputRegisters(999, 1); err == nil || !strings.Contains(err.Error(), "exception '6'") {
		t.Errorf("input 999 (hook: busy): %v", err)
	}
	if got, err := tcpClient(t, srv.Addr, 2).ReadInputRegisters(5, 1); err != nil || !bytes.Equal(got, []byte{0x03, 0xED}) {
		t.Errorf("unit 2 input 5: % X %v, want 1005", got, err)
	}
	if n := srv.Requests(); n != 6 {
		t.Errorf("Requests() = %d, want 6", n)
	}
	if n := hooked.Load(); n != 4 {
		t.Errorf("hook asked %d times, want 4 (not for the queued faults)", n)
	}
}

// A stopped server refuses connections; restarted, it answers on the same
// address.
func TestStopRestart(t *testing.T) {
	t.Parallel()
	srv := mbservertest.Start(t, mbservertest.Options{Devices: mbservertest.Units(mbservertest.PatternBank(), 1)})
	addr := srv.Addr
	srv.Stop()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("stopped server still accepts")
	}
	srv.Restart()
	if srv.Addr != addr {
		t.Errorf("restarted on %s, want %s", srv.Addr, addr)
	}
	if got, err := tcpClient(t, srv.Addr, 1).ReadHoldingRegisters(0, 1); err != nil || !bytes.Equal(got, []byte{0x03, 0xE8}) {
		t.Errorf("after restart: % X %v", got, err)
	}
}

// WaitClosed returns once the server has closed the connection a Close
// fault ends, and the client then sees the close.
func TestWaitClosed(t *testing.T) {
	t.Parallel()
	for framing, req := range map[mbservertest.Framing][]byte{
		mbservertest.TCP:        {0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1},
		mbservertest.RTUOverTCP: rtuRequest(1, 0, 1),
	} {
		srv := mbservertest.Start(t, mbservertest.Options{Framing: framing, Devices: mbservertest.Units(mbservertest.PatternBank(), 1)})
		srv.Fault(mbserver.Action{Drop: true, Close: true})
		c, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		srv.WaitClosed(1)
		if n := srv.Requests(); n != 1 {
			t.Errorf("framing %d: %d requests, want the one the fault closed", framing, n)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := c.Read(make([]byte, 16)); err != io.EOF {
			t.Errorf("framing %d: read after WaitClosed: %d bytes, %v; want EOF", framing, n, err)
		}
	}
}

// rtuRequest is an RTU read of holding registers with its CRC.
func rtuRequest(unit byte, addr, qty uint16) []byte {
	f := []byte{unit, 3, byte(addr >> 8), byte(addr), byte(qty >> 8), byte(qty)}
	c := crc16.Checksum(f)
	return append(f, byte(c), byte(c>>8))
}

// rtuRoundTrip writes a request and reads an answer of n bytes.
func rtuRoundTrip(t *testing.T, c net.Conn, req []byte, n int) []byte {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	ans := make([]byte, n)
	if _, err := io.ReadFull(c, ans); err != nil {
		t.Fatalf("reading %d bytes of answer: %v", n, err)
	}
	return ans
}

func checkRTUAnswer(t *testing.T, ans []byte, want []byte) {
	t.Helper()
	body := ans[:len(ans)-2]
	if c := crc16.Checksum(body); ans[len(ans)-2] != byte(c) || ans[len(ans)-1] != byte(c>>8) {
		t.Errorf("answer % X: bad CRC", ans)
	}
	if !bytes.Equal(body, want) {
		t.Errorf("answer % X, want % X and CRC", ans, want)
	}
}

// RTU frames over TCP, with a rewriting fault.
func TestRTUOverTCP(t *testing.T) {
	t.Parallel()
	srv := mbservertest.Start(t, mbservertest.Options{Framing: mbservertest.RTUOverTCP, Devices: mbservertest.Units(mbservertest.PatternBank(), 7)})
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkRTUAnswer(t, rtuRoundTrip(t, c, rtuRequest(7, 3, 1), 7), []byte{7, 3, 2, 0x03, 0xEB}) // 1003
	srv.Fault(mbserver.Action{BadCRC: true})
	ans := rtuRoundTrip(t, c, rtuRequest(7, 3, 1), 7)
	if c := crc16.Checksum(ans[:5]); ans[5] == byte(c) && ans[6] == byte(c>>8) {
		t.Errorf("BadCRC fault: answer % X has a good CRC", ans)
	}
}

// A serial server on one end of a pipe answers RTU frames written on the
// other.
func TestSerial(t *testing.T) {
	t.Parallel()
	port, line := net.Pipe()
	// Registered first, so closed after the server has stopped.
	t.Cleanup(func() { line.Close(); port.Close() })
	srv := mbservertest.Start(t, mbservertest.Options{
		Framing: mbservertest.Serial, Port: port,
		RTU:     mbserver.RTUOptions{FrameGap: time.Millisecond, Name: "pipe"},
		Devices: mbservertest.Units(mbservertest.PatternBank(), 1),
	})
	if srv.Addr != "pipe" {
		t.Errorf("Addr %q, want the port's name", srv.Addr)
	}
	checkRTUAnswer(t, rtuRoundTrip(t, line, rtuRequest(1, 20, 2), 9), []byte{1, 3, 4, 0x03, 0xFC, 0x03, 0xFD}) // 1020 1021
}

// PatternBank's values name their address in every table.
func TestPatternBank(t *testing.T) {
	t.Parallel()
	b := mbservertest.PatternBank()
	for _, tab := range []mbserver.Table{mbserver.HoldingRegisters, mbserver.InputRegisters} {
		if got, err := b.Registers(tab, 998, 2); err != nil || fmt.Sprint(got) != "[1998 1999]" {
			t.Errorf("%v 998+2: %v %v", tab, got, err)
		}
	}
	for _, tab := range []mbserver.Table{mbserver.Coils, mbserver.DiscreteInputs} {
		if got, err := b.Bits(tab, 0, 4); err != nil || fmt.Sprint(got) != "[true false true false]" {
			t.Errorf("%v 0+4: %v %v", tab, got, err)
		}
	}
}
