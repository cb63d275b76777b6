package console

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/console/password"
)

func TestSafeNext(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"/#/energy", "/#/energy"},
		{"/#/boiler?site=plant-a&boiler=boiler1&range=30d", "/#/boiler?site=plant-a&boiler=boiler1&range=30d"},
		{"/report?site=plant-a&month=2026-01", "/report?site=plant-a&month=2026-01"},
		{"/%2F/host", "/%2F/host"}, // an escaped slash stays a path
		{"", "/"},
		{"https://evil.example/", "/"},
		{"evil.example", "/"},
		{"//evil.example", "/"},
		{"///evil.example", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"/a\\b", "/"},
		{"/\t/evil.example", "/"}, // next=/%09/host: browsers drop the tab
		{"/\r\n/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/\x00/evil.example", "/"},
		{"/\x7f", "/"},
		{"/ /evil.example", "/"},
		{"/path//evil.example", "/"},
		{"/\u3000/evil.example", "/"}, // non-ASCII space
		{"/\u202e/x", "/"},            // bidi override
		{"javascript:alert(1)", "/"},
		{"/a\r\nSet-Cookie: x=y", "/"},
		{`/\evil.example/`, "/"},
		{"/" + string(make([]byte, maxNext)), "/"},
	} {
		if got := safeNext(tc.in); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestLoginRedirect posts next= values through the login form: only a
// plain path comes back as Location.
func TestLoginRedirect(t *testing.T) {
	o := newOffline(t, config.Console{Users: []config.ConsoleUser{quickUser(t, "li")}}, nil)
	for _, tc := range []struct{ next, want string }{
		{"/#/quality", "/#/quality"},
		{"/\t/evil.example", "/"},
		{"//evil.example", "/"},
		{"/\\evil.example", "/"},
	} {
		t.Run(strconv.Quote(tc.next), func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, o.srv.URL+"/login", stringsReader("user=li&password="+urlEscape(testPW)+"&next="+urlEscape(tc.next)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := noRedirect().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.want {
				t.Errorf("%s Location %q, want 303 %q", resp.Status, resp.Header.Get("Location"), tc.want)
			}
		})
	}
}

// TestLoginGuard runs attempts against the throttle on an injected clock.
func TestLoginGuard(t *testing.T) {
	type step struct {
		advance    time.Duration
		user, addr string
		op         string        // fail, ok (right password), busy (no hash slot)
		wait       time.Duration // > 0: the attempt is refused for this long
	}
	fails := func(n int, user, addr string) []step {
		var s []step
		for range n {
			s = append(s, step{user: user, addr: addr, op: "fail"})
		}
		return s
	}
	cat := func(parts ...[]step) []step {
		var out []step
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"three free failures, then doubling delays up to the cap", cat(fails(4, "li", "a1"), []step{
			{user: "li", addr: "a1", op: "fail", wait: time.Second},
			{advance: 999 * time.Millisecond, user: "li", addr: "a1", op: "fail", wait: time.Millisecond},
			{advance: time.Millisecond, user: "li", addr: "a1", op: "fail"}, // 5th: 2 s
			{advance: time.Second, user: "li", addr: "a1", op: "ok", wait: time.Second},
			{advance: time.Second, user: "li", addr: "a1", op: "fail"},     // 6th: 4 s
			{advance: 4 * time.Second, user: "li", addr: "a1", op: "fail"}, // 7th: 8 s
			{advance: 8 * time.Second, user: "li", addr: "a1", op: "fail"}, // 8th: 16 s, capped at 10 s
			{advance: 9 * time.Second, user: "li", addr: "a1", op: "fail", wait: time.Second},
			{advance: time.Second, user: "li", addr: "a1", op: "ok"}, // the right password after the wait
			{user: "li", addr: "a1", op: "fail"},                     // the user's failures are forgotten
		})},
		{"a locked user is locked from every address", cat(fails(4, "li", "a1"), []step{
			{user: "li", addr: "a2", op: "ok", wait: time.Second},
		})},
		{"other users from the same address are not delayed by one user", cat(fails(4, "li", "a1"), []step{
			{user: "wang", addr: "a1", op: "ok"},
		})},
		{"unknown names count against the address", cat(
			fails(1, "n1", "a1"), fails(1, "n2", "a1"), fails(1, "n3", "a1"), fails(1, "n4", "a1"), fails(1, "n5", "a1"),
			fails(1, "n6", "a1"), fails(1, "n7", "a1"), fails(1, "n8", "a1"), fails(1, "n9", "a1"), fails(1, "n10", "a1"),
			fails(1, "n11", "a1"), // 11th: delays start
			[]step{
				{user: "n12", addr: "a1", op: "fail", wait: time.Second},
				{user: "li", addr: "a1", op: "ok", wait: time.Second}, // the address is delayed for everyone
				{user: "li", addr: "a2", op: "ok"},                    // not other addresses
			})},
		{"a success does not reset the address", cat(
			fails(1, "n1", "a1"), fails(1, "n2", "a1"), fails(1, "n3", "a1"), fails(1, "n4", "a1"), fails(1, "n5", "a1"),
			fails(1, "n6", "a1"), fails(1, "n7", "a1"), fails(1, "n8", "a1"), fails(1, "n9", "a1"), fails(1, "n10", "a1"),
			[]step{
				{user: "li", addr: "a1", op: "ok"},
				{user: "n11", addr: "a1", op: "fail"},
				{user: "n12", addr: "a1", op: "fail", wait: time.Second},
			})},
		{"an attempt without a hash slot is taken back", cat(fails(3, "li", "a1"), []step{
			{user: "li", addr: "a1", op: "busy"},
			{user: "li", addr: "a1", op: "busy"},
			{user: "li", addr: "a1", op: "fail"}, // still the 4th
			{user: "li", addr: "a1", op: "fail", wait: time.Second},
		})},
		{"failures are forgotten after 15 minutes", cat(fails(4, "li", "a1"), []step{
			{advance: 15*time.Minute + time.Second, user: "li", addr: "a1", op: "fail"},
			{user: "li", addr: "a1", op: "fail"},
			{user: "li", addr: "a1", op: "fail"},
			{user: "li", addr: "a1", op: "fail"},
			{user: "li", addr: "a1", op: "fail", wait: time.Second},
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newLoginGuard(3, 10, 10*time.Second)
			now := time.Date(2026, 1, 15, 8, 0, 0, 0, time.UTC)
			for i, s := range tc.steps {
				now = now.Add(s.advance)
				wait, _ := g.begin(s.user, s.addr, now)
				if wait != s.wait {
					t.Fatalf("step %d (%s %s@%s): wait %s, want %s", i, s.op, s.user, s.addr, wait, s.wait)
				}
				if wait > 0 {
					continue
				}
				switch s.op {
				case "ok":
					g.succeeded(s.user, s.addr)
				case "busy":
					g.abandoned(s.user, s.addr)
				}
			}
		})
	}
}

// TestLoginGuardBounded floods the guard with invented names: each table
// keeps at most maxThrottleKeys.
func TestLoginGuardBounded(t *testing.T) {
	g := newLoginGuard(3, 1000, time.Minute)
	now := time.Date(2026, 1, 15, 8, 0, 0, 0, time.UTC)
	for i := range maxThrottleKeys + 500 {
		now = now.Add(time.Millisecond)
		g.begin("name-"+strconv.Itoa(i), "addr-"+strconv.Itoa(i), now)
	}
	if len(g.users.m) > maxThrottleKeys || len(g.addrs.m) > maxThrottleKeys {
		t.Errorf("%d user and %d address records, want at most %d", len(g.users.m), len(g.addrs.m), maxThrottleKeys)
	}
	if _, ok := g.users.m["name-0"]; ok {
		t.Error("the oldest record was kept")
	}
	if _, ok := g.users.m["name-"+strconv.Itoa(maxThrottleKeys+499)]; !ok {
		t.Error("the newest record is missing")
	}
}

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		name, remote, xff string
		proxies           []netip.Prefix
		want              string
	}{
		{"peer", "192.0.2.7:5555", "", proxies, "192.0.2.7"},
		{"untrusted peer's header is ignored", "192.0.2.7:5555", "198.51.100.1", proxies, "192.0.2.7"},
		{"no proxies configured", "127.0.0.1:5555", "198.51.100.1", nil, "127.0.0.1"},
		{"through a trusted proxy", "127.0.0.1:5555", "198.51.100.1", proxies, "198.51.100.1"},
		{"forged entries before the real client", "127.0.0.1:5555", "203.0.113.9, 198.51.100.1", proxies, "198.51.100.1"},
		{"through two trusted proxies", "127.0.0.1:5555", "198.51.100.1, 10.1.1.1", proxies, "198.51.100.1"},
		{"garbage in the header", "127.0.0.1:5555", "not-an-ip", proxies, "127.0.0.1"},
		{"IPv6 counts per /64", "[2001:db8:1:2:3:4:5:6]:443", "", proxies, "2001:db8:1:2::/64"},
		{"IPv4-mapped IPv6", "[::ffff:192.0.2.7]:443", "", proxies, "192.0.2.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/login", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := clientAddr(r, tc.proxies); got != tc.want {
				t.Errorf("clientAddr = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLoginThrottleHTTP: failed logins are delayed, then answered 429
// with Retry-After, for unknown names too, on the console's clock.
func TestLoginThrottleHTTP(t *testing.T) {
	cfg := config.Console{Users: []config.ConsoleUser{quickUser(t, "li")}, Proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	o := newOffline(t, cfg, nil)
	var hashes atomic.Int64
	o.con.match = func(p password.Parsed, pw string) bool { hashes.Add(1); return p.Match(pw) }
	c := noRedirect()
	for _, tc := range []struct {
		name, user, pw, from string
		advance              time.Duration
		code                 int
		retry                string
	}{
		{"1st failure", "li", "guess", "198.51.100.1", 0, 401, ""},
		{"2nd failure", "li", "guess", "198.51.100.1", 0, 401, ""},
		{"3rd failure", "li", "guess", "198.51.100.1", 0, 401, ""},
		{"4th failure starts the delay", "li", "guess", "198.51.100.1", 0, 401, ""},
		{"too early, even with the right password", "li", testPW, "198.51.100.2", 0, 429, "1"},
		{"after the delay", "li", "guess", "198.51.100.1", time.Second, 401, ""},
		{"the delay doubled", "li", "guess", "198.51.100.1", time.Second, 429, "1"},
		{"right password after the delay", "li", testPW, "198.51.100.1", time.Second, 303, ""},
		{"unknown name 1", "mallory", "x", "198.51.100.3", 0, 401, ""},
		{"unknown name 2", "mallory", "x", "198.51.100.3", 0, 401, ""},
		{"unknown name 3", "mallory", "x", "198.51.100.3", 0, 401, ""},
		{"unknown name 4", "mallory", "x", "198.51.100.3", 0, 401, ""},
		{"unknown name throttled", "mallory", "x", "198.51.100.4", 0, 429, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o.clock.add(tc.advance)
			before := hashes.Load()
			resp := o.post(t, c, tc.user, tc.pw, tc.from)
			if resp.StatusCode != tc.code || resp.Header.Get("Retry-After") != tc.retry {
				t.Fatalf("%s Retry-After %q, want %d %q", resp.Status, resp.Header.Get("Retry-After"), tc.code, tc.retry)
			}
			if n := hashes.Load() - before; (tc.code == 429) != (n == 0) {
				t.Errorf("%d hashes computed for a %d answer", n, tc.code)
			}
		})
	}
}

// TestLoginFlood: 32 parallel attempts with a wrong password from one
// address cost a handful of hashes, not 32; from 32 addresses they are
// never computed more than login.hashes at a time, and what cannot get a
// slot within hashWait is answered 503.
func TestLoginFlood(t *testing.T) {
	t.Run("one address", func(t *testing.T) {
		o := newOffline(t, config.Console{Users: []config.ConsoleUser{quickUser(t, "li")}}, nil)
		var hashes atomic.Int64
		o.con.match = func(p password.Parsed, pw string) bool { hashes.Add(1); return p.Match(pw) }
		codes := flood(t, o, 32, func(i int) (string, string) { return "li", "" })
		if codes[401] != 4 || codes[429] != 28 || hashes.Load() != 4 {
			t.Errorf("answers %v, %d hashes; want 4×401 (3 free, the 4th starts the delay), 28×429, 4 hashes", codes, hashes.Load())
		}
	})
	t.Run("many addresses", func(t *testing.T) {
		cfg := config.Console{Users: []config.ConsoleUser{quickUser(t, "li")}, Proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
		cfg.Login.Hashes = 2
		o := newOffline(t, cfg, nil)
		o.con.hashWait = 60 * time.Millisecond
		var running, peak, hashes atomic.Int64
		o.con.match = func(p password.Parsed, pw string) bool {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				if m := peak.Load(); n <= m || peak.CompareAndSwap(m, n) {
					break
				}
			}
			hashes.Add(1)
			time.Sleep(25 * time.Millisecond) // a slow hash, so the slots fill
			return false
		}
		codes := flood(t, o, 32, func(i int) (string, string) { return "user" + strconv.Itoa(i), "198.51.100." + strconv.Itoa(i+1) })
		if peak.Load() > 2 {
			t.Errorf("%d hashes at once, want at most 2", peak.Load())
		}
		if codes[401]+codes[503] != 32 || codes[503] == 0 || int64(codes[401]) != hashes.Load() {
			t.Errorf("answers %v, %d hashes: want 401 (one hash each) or 503 (none), and some 503", codes, hashes.Load())
		}
	})
}

// flood posts n logins at once with a wrong password and counts the
// answers by status.
func flood(t *testing.T, o *offline, n int, who func(int) (user, from string)) map[int]int {
	t.Helper()
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		user, from := who(i)
		wg.Go(func() {
			<-start
			resp := o.post(t, noRedirect(), user, "wrong", from)
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
			if resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "1" {
				t.Errorf("503 without Retry-After")
			}
		})
	}
	close(start)
	wg.Wait()
	return codes
}

// TestDummyHashCost: an unknown name costs the users' own work factor.
func TestDummyHashCost(t *testing.T) {
	o := newOffline(t, config.Console{Users: []config.ConsoleUser{quickUser(t, "li")}}, nil)
	if got := o.con.dummy.Iterations(); got != password.MinIterations {
		t.Errorf("stand-in hash has %d iterations, the users' %d", got, password.MinIterations)
	}
}

// TestLoggedIn is the hook the collector's /readyz uses to show details
// only to logged-in users.
func TestLoggedIn(t *testing.T) {
	o := newOffline(t, config.Console{Users: []config.ConsoleUser{quickUser(t, "li")}}, nil)
	c := o.login(t, "li")
	u, _ := urlParse(o.srv.URL)
	for _, tc := range []struct {
		name   string
		cookie *http.Cookie
		want   bool
	}{
		{"no cookie", nil, false},
		{"forged cookie", &http.Cookie{Name: cookieName, Value: "AAAA"}, false},
		{"session", c.Jar.Cookies(u)[0], true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/readyz", nil)
		if tc.cookie != nil {
			r.AddCookie(tc.cookie)
		}
		if got := o.con.LoggedIn(r); got != tc.want {
			t.Errorf("%s: LoggedIn = %v, want %v", tc.name, got, tc.want)
		}
	}
}
