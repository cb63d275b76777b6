//go:build !linux

package rawsock

import "net"

// Conn is the TCP connection itself where raw system calls are not used.
type Conn struct{ *net.TCPConn }

// Wrap returns c unchanged in behaviour.
func Wrap(c *net.TCPConn) (*Conn, error) { return &Conn{c}, nil }
