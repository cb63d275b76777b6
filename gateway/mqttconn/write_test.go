package mqttconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// WriteBehind's connection sends what paho writes, in order and whole,
// from its own goroutine: before Close returns, and not after a failure.
func TestWriteBehind(t *testing.T) {
	t.Parallel()
	packet := func(i int) []byte { return []byte{0x40, 0x02, byte(i >> 8), byte(i)} } // a PUBACK
	cases := []struct {
		name string
		run  func(t *testing.T, c *writeBehind, peer net.Conn)
	}{
		{"every write arrives, in order, before Close returns", func(t *testing.T, c *writeBehind, peer net.Conn) {
			var want bytes.Buffer
			for i := range 5000 {
				want.Write(packet(i))
				if n, err := c.Write(packet(i)); n != 4 || err != nil {
					t.Fatalf("write %d: %d, %v", i, n, err)
				}
			}
			got := make(chan []byte)
			go func() { b, _ := io.ReadAll(peer); got <- b }()
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if b := <-got; !bytes.Equal(b, want.Bytes()) {
				t.Errorf("the peer read %d bytes, want the %d written", len(b), want.Len())
			}
		}},
		{"reads see what the peer sent", func(t *testing.T, c *writeBehind, peer net.Conn) {
			peer.Write([]byte("abc"))
			b := make([]byte, 3)
			if _, err := io.ReadFull(c, b); err != nil || string(b) != "abc" {
				t.Errorf("read %q, %v", b, err)
			}
			c.Close()
		}},
		{"writes fail once the peer is gone", func(t *testing.T, c *writeBehind, peer net.Conn) {
			peer.Close()
			var err error
			for i := 0; err == nil && i < 10000; i++ {
				_, err = c.Write(packet(i))
				time.Sleep(100 * time.Microsecond)
			}
			if err == nil {
				t.Error("10,000 writes to a closed peer succeeded")
			}
			c.Close()
		}},
		{"a peer that reads nothing does not hold Close", func(t *testing.T, c *writeBehind, peer net.Conn) {
			// Writes are held back at maxUnsent once the socket buffers
			// are full: write from a goroutine until then.
			go func() {
				for {
					if _, err := c.Write(make([]byte, 1<<10)); err != nil {
						return
					}
				}
			}()
			time.Sleep(200 * time.Millisecond)
			closed := make(chan error)
			go func() { closed <- c.Close() }()
			select {
			case err := <-closed:
				if err != nil && !errors.Is(err, net.ErrClosed) {
					t.Error(err)
				}
			case <-time.After(10 * closeFlush):
				t.Fatal("Close still waits for a peer that reads nothing")
			}
			if _, err := c.Write(packet(0)); err == nil {
				t.Error("a write after Close succeeded")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			conn, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			peer, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			tc.run(t, newWriteBehind(conn, 64), peer)
		})
	}
}
