package console

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Login throttling (docs/console.md#login-throttling). Each password
// check costs about 0.1 s of one core, on purpose; without a bound, a
// script posting logins in parallel turns that into a denial of service,
// and without delays it may guess passwords as fast as the CPU allows.

const (
	// throttleBase is the first delay; every further failure doubles it.
	throttleBase = time.Second
	// throttleForget is how long failures are remembered without a new
	// one (at least twice the longest delay).
	throttleForget = 15 * time.Minute
	// maxThrottleKeys bounds each table (user names, addresses), so a
	// flood of invented names cannot exhaust memory; the key idle longest
	// goes first.
	maxThrottleKeys = 10000
	// hashWait is how long an attempt waits for a free hash slot before it
	// is answered 503.
	hashWait = time.Second
)

// failures is the record of one user name or client address.
type failures struct {
	n     int       // failed (or still running) attempts
	last  time.Time // of the last attempt counted
	until time.Time // no attempt before this
}

// failTable counts attempts per key.
type failTable struct {
	free int // failures before delays start
	m    map[string]*failures
}

// loginGuard throttles logins per user name and per client address. An
// attempt is counted when it starts, before its hash is computed, so that
// parallel attempts cannot all slip through before the first one fails;
// a success takes its count back.
type loginGuard struct {
	mu       sync.Mutex
	users    failTable
	addrs    failTable
	maxDelay time.Duration
	forget   time.Duration
}

func newLoginGuard(userFree, addrFree int, maxDelay time.Duration) *loginGuard {
	return &loginGuard{
		users:    failTable{free: userFree, m: map[string]*failures{}},
		addrs:    failTable{free: addrFree, m: map[string]*failures{}},
		maxDelay: maxDelay,
		forget:   max(throttleForget, 2*maxDelay),
	}
}

// delay is the wait after n failures with free of them without one:
// 1 s after the first one past free, then doubling, up to maxDelay.
func (g *loginGuard) delay(n, free int) time.Duration {
	if n <= free {
		return 0
	}
	d := throttleBase
	for i := free + 1; i < n && d < g.maxDelay; i++ {
		d *= 2
	}
	return min(d, g.maxDelay)
}

// get returns the live record of key, nil when there is none or it was
// forgotten.
func (g *loginGuard) get(t *failTable, key string, now time.Time) *failures {
	f := t.m[key]
	if f != nil && now.Sub(f.last) > g.forget {
		delete(t.m, key)
		return nil
	}
	return f
}

// begin admits or refuses an attempt of user from addr at now. Admitted,
// the attempt is counted against both; refused, wait is how long the
// client must wait. locked reports a key that this attempt put under a
// delay, for the log.
func (g *loginGuard) begin(user, addr string, now time.Time) (wait time.Duration, locked []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range []*failures{g.get(&g.users, user, now), g.get(&g.addrs, addr, now)} {
		if f != nil && now.Before(f.until) {
			wait = max(wait, f.until.Sub(now))
		}
	}
	if wait > 0 {
		return wait, nil
	}
	if g.count(&g.users, user, now) {
		locked = append(locked, "user")
	}
	if g.count(&g.addrs, addr, now) {
		locked = append(locked, "address")
	}
	return 0, locked
}

// count adds an attempt to key and reports whether it now must wait.
func (g *loginGuard) count(t *failTable, key string, now time.Time) bool {
	f := g.get(t, key, now)
	if f == nil {
		if len(t.m) >= maxThrottleKeys {
			g.evict(t, now)
		}
		f = &failures{}
		t.m[key] = f
	}
	f.n++
	f.last = now
	d := g.delay(f.n, t.free)
	f.until = now.Add(d)
	return d > 0
}

// evict drops forgotten records, and the record idle longest if the
// table is still full. Only admitted attempts add keys, and those are
// bounded by the hash slots, so a scan per new key is cheap enough.
func (g *loginGuard) evict(t *failTable, now time.Time) {
	var oldest string
	var at time.Time
	for k, f := range t.m {
		if now.Sub(f.last) > g.forget {
			delete(t.m, k)
			continue
		}
		if at.IsZero() || f.last.Before(at) {
			oldest, at = k, f.last
		}
	}
	if len(t.m) >= maxThrottleKeys {
		delete(t.m, oldest)
	}
}

// uncount takes an attempt back from key: its password was right, or it
// never got to check it.
func (g *loginGuard) uncount(t *failTable, key string) {
	f := t.m[key]
	if f == nil {
		return
	}
	f.n--
	if f.n <= 0 {
		delete(t.m, key)
		return
	}
	f.until = f.last.Add(g.delay(f.n, t.free))
}

// succeeded ends an attempt with the right password: the user name's
// failures are forgotten; the address keeps its other failures, since an
// attacker with one account could otherwise reset them.
func (g *loginGuard) succeeded(user, addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.users.m, user)
	g.uncount(&g.addrs, addr)
}

// abandoned ends an attempt that never checked its password.
func (g *loginGuard) abandoned(user, addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.uncount(&g.users, user)
	g.uncount(&g.addrs, addr)
}

// hashSlots bounds the password hashes computed at once.
type hashSlots chan struct{}

// acquire takes a slot, waiting at most wait; false when none came free
// (or the client went away).
func (s hashSlots) acquire(ctx context.Context, wait time.Duration) bool {
	select {
	case s <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (s hashSlots) release() { <-s }

// clientAddr is the address logins are throttled by: the peer, or behind
// a trusted proxy the last address in X-Forwarded-For that is not itself
// a trusted proxy (the ones before it may be forged by the client). An
// IPv6 client counts as its /64, since one host usually has all of it.
func clientAddr(r *http.Request, proxies []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return truncate(host, 64)
	}
	peer = peer.Unmap().WithZone("")
	client := peer
	if trusted(peer, proxies) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			client = a.Unmap().WithZone("")
			if !trusted(client, proxies) {
				break
			}
		}
	}
	if client.Is6() {
		p, _ := client.Prefix(64)
		return p.String()
	}
	return client.String()
}

func trusted(a netip.Addr, proxies []netip.Prefix) bool {
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
