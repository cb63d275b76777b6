// Package mqttconn opens paho's broker connection read through a buffer,
// for the gateway and the collector alike, and for the collector written
// from a goroutine of its own.
//
// paho reads a packet's fixed header a byte at a time and its body with
// another read, each a system call on a bare connection: about four per
// packet. Draining a backlog that cost the collector a sixth of its CPU;
// on a gateway it is four reads per PUBACK, one per published poll.
//
// paho also writes every packet with a system call of its own: a
// collector acknowledging a batch of 500 messages made 500 writes
// (WriteBehind).
//
// The gateway's connection (Buffered) is read and written with raw system
// calls (gateway/rawsock), under TLS too: a gateway is idle between its
// publishes, and each system call out of idle woke the Go runtime's
// monitor thread.
package mqttconn

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"os"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/gateway/rawsock"
)

// Buffered returns paho's connection opener for broker, reading through a
// buffer of size bytes (reads larger than the buffer go to the connection
// directly) a socket read and written with raw system calls, or nil for a
// broker paho must dial itself: websockets, or a SOCKS proxy from
// all_proxy, which paho's own dialer serves.
func Buffered(broker string, size int) mqtt.OpenConnectionFunc {
	return open(broker, size, false)
}

// WriteBehind is Buffered, and a write only appends to what the
// connection's sender goroutine sends next: what paho writes while the
// sender is in a system call leaves in its next one. It suits a client
// that writes in bursts (the collector acknowledging a batch); each write
// costs a goroutine hand-over, which a client writing a packet now and
// then (a gateway) would pay for nothing.
func WriteBehind(broker string, size int) mqtt.OpenConnectionFunc {
	return open(broker, size, true)
}

func open(broker string, size int, behind bool) mqtt.OpenConnectionFunc {
	u, err := url.Parse(broker)
	if err != nil || !bufferable(u) {
		return nil
	}
	return func(u *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
		var conn net.Conn
		var err error
		if behind {
			d := &net.Dialer{Timeout: o.ConnectTimeout}
			switch u.Scheme {
			case "tcp", "mqtt":
				conn, err = d.Dial("tcp", u.Host)
			default:
				conn, err = tls.DialWithDialer(d, "tcp", u.Host, o.TLSConfig)
			}
		} else {
			conn, err = dialRaw(u, o)
		}
		if err != nil {
			return nil, err
		}
		if behind {
			return newWriteBehind(conn, size), nil
		}
		return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, size)}, nil
	}
}

// dialRaw dials the broker as paho would (TLS for the ssl schemes, the
// server name from the URL unless the config has one), over a socket read
// and written with raw system calls.
func dialRaw(u *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	ctx := context.Background()
	if o.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.ConnectTimeout)
		defer cancel()
	}
	nc, err := new(net.Dialer).DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	conn, err := rawsock.Wrap(nc.(*net.TCPConn))
	if err != nil {
		nc.Close()
		return nil, err
	}
	switch u.Scheme {
	case "tcp", "mqtt":
		return conn, nil
	}
	cfg := o.TLSConfig.Clone()
	if cfg == nil {
		cfg = new(tls.Config)
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// bufferable: the schemes Buffered dials as paho would.
func bufferable(u *url.URL) bool {
	if os.Getenv("all_proxy") != "" || os.Getenv("ALL_PROXY") != "" {
		return false
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		return true
	}
	return false
}

// bufferedConn reads the broker's stream through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// writeBehind is a bufferedConn whose writes are sent by send.
type writeBehind struct {
	bufferedConn

	mu      sync.Mutex
	cond    sync.Cond // out grew, out was taken, or the connection failed or is closing
	out     []byte    // written, not yet sent
	err     error     // of the send that failed; later writes return it
	closing bool
	sent    chan struct{} // closed when send has ended
}

// maxUnsent bounds what waits to be sent: a broker that stops reading
// holds paho's writes back there, as a full socket buffer would.
const maxUnsent = 64 << 10

// closeFlush is how long Close waits for what was written to be sent
// (paho's DISCONNECT last).
const closeFlush = time.Second

func newWriteBehind(conn net.Conn, size int) *writeBehind {
	c := &writeBehind{bufferedConn: bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, size)}, sent: make(chan struct{})}
	c.cond.L = &c.mu
	go c.send() // ends with Close, or when a write fails
	return c
}

func (c *writeBehind) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && !c.closing && len(c.out) >= maxUnsent {
		c.cond.Wait()
	}
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closing:
		return 0, net.ErrClosed
	}
	c.out = append(c.out, p...)
	c.cond.Broadcast()
	return len(p), nil
}

// send sends what was written, all that gathered in one system call.
func (c *writeBehind) send() {
	defer close(c.sent)
	var buf []byte
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.out) == 0 && !c.closing {
			c.cond.Wait()
		}
		if len(c.out) == 0 {
			return // closing, everything sent
		}
		buf, c.out = c.out, buf[:0]
		c.cond.Broadcast() // room for Write
		c.mu.Unlock()
		_, err := c.Conn.Write(buf)
		c.mu.Lock()
		if err != nil {
			c.err = err
			c.cond.Broadcast()
			return
		}
	}
}

// Close sends what was written, waiting at most closeFlush, and closes
// the connection.
func (c *writeBehind) Close() error {
	c.mu.Lock()
	c.closing = true
	c.cond.Broadcast()
	c.mu.Unlock()
	c.Conn.SetWriteDeadline(time.Now().Add(closeFlush))
	<-c.sent
	return c.Conn.Close()
}
