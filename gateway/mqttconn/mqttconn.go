// Package mqttconn opens paho's broker connection read through a buffer,
// for the gateway and the collector alike.
//
// paho reads a packet's fixed header a byte at a time and its body with
// another read, each a system call on a bare connection: about four per
// packet. Draining a backlog that cost the collector a sixth of its CPU;
// on a gateway it is four reads per PUBACK, one per published poll.
package mqttconn

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/url"
	"os"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Buffered returns paho's connection opener for broker, reading through a
// buffer of size bytes (reads larger than the buffer go to the connection
// directly), or nil for a broker paho must dial itself: websockets, or a
// SOCKS proxy from all_proxy, which paho's own dialer serves.
func Buffered(broker string, size int) mqtt.OpenConnectionFunc {
	u, err := url.Parse(broker)
	if err != nil || !bufferable(u) {
		return nil
	}
	return func(u *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
		d := &net.Dialer{Timeout: o.ConnectTimeout}
		var conn net.Conn
		var err error
		switch u.Scheme {
		case "tcp", "mqtt":
			conn, err = d.Dial("tcp", u.Host)
		default:
			conn, err = tls.DialWithDialer(d, "tcp", u.Host, o.TLSConfig)
		}
		if err != nil {
			return nil, err
		}
		return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, size)}, nil
	}
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
