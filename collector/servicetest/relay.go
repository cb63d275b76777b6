package servicetest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Relay forwards TCP connections from a free loopback port to a target
// address until a test cuts it: the network link between two services
// (a regional broker and the central one), failing on demand.
type Relay struct {
	Addr   string // host:port to connect to instead of the target
	target string
	ln     net.Listener

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	down  bool
	wg    sync.WaitGroup
}

// StartRelay listens on a free loopback port and relays to target; it is
// stopped, with every connection, at the end of the test.
func StartRelay(t testing.TB, target string) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	r.wg.Go(r.accept)
	t.Cleanup(func() {
		ln.Close()
		r.Cut()
		r.wg.Wait()
	})
	return r
}

// Cut closes every relayed connection and refuses new ones (they are
// closed at once) until Restore: both ends see the link drop mid-stream.
func (r *Relay) Cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = true
	for c := range r.conns {
		c.Close()
	}
}

// Restore lets connections through again.
func (r *Relay) Restore() {
	r.mu.Lock()
	r.down = false
	r.mu.Unlock()
}

func (r *Relay) accept() {
	for {
		in, err := r.ln.Accept()
		if err != nil {
			return // the listener is closed: the test is over
		}
		r.mu.Lock()
		down := r.down
		r.mu.Unlock()
		if down {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", r.target)
		if err != nil {
			in.Close()
			continue
		}
		if !r.track(in, out) {
			continue
		}
		r.wg.Go(func() { r.pipe(in, out) })
		r.wg.Go(func() { r.pipe(out, in) })
	}
}

// track registers a connection pair, or closes it if the relay was cut
// meanwhile.
func (r *Relay) track(in, out net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		in.Close()
		out.Close()
		return false
	}
	r.conns[in], r.conns[out] = struct{}{}, struct{}{}
	return true
}

// pipe copies one direction; when either side ends, both are closed.
func (r *Relay) pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	r.mu.Lock()
	delete(r.conns, dst)
	delete(r.conns, src)
	r.mu.Unlock()
}
