package rawsock

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// pair returns a wrapped client connection and the server's end of it,
// over loopback.
func pair(t *testing.T) (*Conn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := Wrap(nc.(*net.TCPConn))
	if err != nil {
		t.Fatal(err)
	}
	srv := (<-accepted).(*net.TCPConn)
	t.Cleanup(func() { c.Close(); srv.Close() })
	return c, srv
}

func TestRoundTripWithoutAllocations(t *testing.T) {
	c, srv := pair(t)
	go io.Copy(srv, srv) // echo
	req := []byte("\x00\x01\x00\x00\x00\x06\x01\x03\x20\x00\x00\x22")
	buf := make([]byte, 64)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:len(req)]); err != nil {
			t.Fatal(err)
		}
	})
	if !bytes.Equal(buf[:len(req)], req) {
		t.Fatalf("echo %x, want %x", buf[:len(req)], req)
	}
	if allocs != 0 {
		t.Errorf("%.1f allocations per round trip, want 0", allocs)
	}
}

func TestEOFWhenPeerCloses(t *testing.T) {
	c, srv := pair(t)
	srv.Write([]byte("last"))
	srv.Close()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "last" {
		t.Fatalf("ReadAll = %q, %v; want \"last\", nil (io.EOF ends it)", got, err)
	}
	if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("Read after EOF = %d, %v; want 0, io.EOF", n, err)
	}
}

func TestReadDeadline(t *testing.T) {
	c, _ := pair(t)
	c.SetDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := c.Read(make([]byte, 8))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past the deadline: %v; want os.ErrDeadlineExceeded, a net.Error with Timeout", err)
	}
	if took := time.Since(start); took < 40*time.Millisecond || took > 2*time.Second {
		t.Errorf("Read returned after %v, want about 50ms", took)
	}
}

func TestCloseWhileReading(t *testing.T) {
	c, _ := pair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 8))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read cut short by Close: %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after Close")
	}
}

func TestResetByPeer(t *testing.T) {
	c, srv := pair(t)
	srv.SetLinger(0) // close sends RST
	srv.Close()
	time.Sleep(20 * time.Millisecond)
	_, err := c.Read(make([]byte, 8))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after the peer reset: %v; want ECONNRESET", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Errorf("error %#v, want a *net.OpError of op read", err)
	}
}

// A write larger than the socket buffers waits for room, while another
// goroutine reads the same connection.
func TestLargeWriteAndConcurrentRead(t *testing.T) {
	c, srv := pair(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	echoed := make(chan []byte, 1)
	go func() {
		// The peer echoes everything, slowly at first, so the writer meets
		// a full buffer.
		time.Sleep(50 * time.Millisecond)
		io.Copy(srv, srv)
	}()
	go func() {
		got := make([]byte, len(big))
		io.ReadFull(c, got)
		echoed <- got
	}()
	n, err := c.Write(big)
	if n != len(big) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(big))
	}
	select {
	case got := <-echoed:
		if !bytes.Equal(got, big) {
			t.Fatal("echo differs from what was written")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("echo not read")
	}
}

func TestWriteDeadline(t *testing.T) {
	c, _ := pair(t) // the peer never reads
	big := make([]byte, 64<<20)
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := c.Write(big)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a peer that does not read: %d, %v; want os.ErrDeadlineExceeded", n, err)
	}
	if n <= 0 || n >= len(big) {
		t.Errorf("Write reported %d bytes written, want what the buffers took (0 < n < %d)", n, len(big))
	}
}
