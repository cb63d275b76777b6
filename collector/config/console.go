package config

import (
	"net/netip"
	"net/url"
	"reflect"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/boilerwatch/boilerwatch/collector/console/password"
	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Console is the auditor console: the web pages and JSON API served on
// http.listen (docs/console.md). It is off while no user is configured,
// since nobody could log in.
type Console struct {
	// Users may log in. Every role is read-only; admin is reserved for
	// the operations that will change something (config pushes).
	Users []ConsoleUser `yaml:"users"`
	// SecureCookie: auto (default: Secure when the request came over TLS
	// or through a proxy that sent X-Forwarded-Proto: https), always or
	// never.
	SecureCookie string `yaml:"secure_cookie"`
	// SessionTTL is how long a login lasts (default 12h).
	SessionTTL Duration `yaml:"session_ttl"`
	// Timezone is the sites' default time zone (default: energy.timezone,
	// else Asia/Shanghai); days and months are local to it.
	Timezone string `yaml:"timezone"`
	// Sites gives sites a title and their own time zone.
	Sites []ConsoleSite `yaml:"sites"`
	// TrustedOrigins may post the login form besides the console's own
	// origin, e.g. the public https://host of a reverse proxy that
	// rewrites Host.
	TrustedOrigins []string `yaml:"trusted_origins"`
	// TrustedProxies are the addresses (CIDR or single IP) of reverse
	// proxies whose X-Forwarded-For is believed: behind a proxy every
	// request comes from the proxy, and login throttling per client
	// address would otherwise throttle everybody at once.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Login bounds password guessing (docs/console.md#login-throttling).
	Login ConsoleLogin `yaml:"login"`
	// MaxGateways bounds the gateway statuses the console keeps when the
	// collector has no gateway registry (default 1000): anyone who may
	// publish a retained status could otherwise grow it without end. The
	// gateway heard from least recently is dropped first.
	MaxGateways int `yaml:"max_gateways"`
	// Fleet sets when the fleet page calls a gateway silent and when it
	// alerts (docs/console.md, Fleet).
	Fleet ConsoleFleet `yaml:"fleet"`

	// Location is Timezone resolved, nil when unset.
	Location *time.Location `yaml:"-"`
	// Proxies is TrustedProxies parsed.
	Proxies []netip.Prefix `yaml:"-"`
}

// ConsoleLogin throttles failed logins. Every attempt counts against the
// user name (known or not) and the client address; past the free failures
// each further one makes the next attempt wait twice as long (1 s, 2 s,
// 4 s … up to MaxDelay), and an attempt before then is answered 429 with
// Retry-After, without computing a hash.
type ConsoleLogin struct {
	// UserFailures are the failures per user name before delays start
	// (default 3).
	UserFailures int `yaml:"user_failures"`
	// AddressFailures are the failures per client address before delays
	// start (default 10: several people may share an office address).
	AddressFailures int `yaml:"address_failures"`
	// MaxDelay caps the delay (default 5m, 1s … 1h). It also bounds how
	// long someone who guesses a user's password wrong on purpose can
	// lock that user out.
	MaxDelay Duration `yaml:"max_delay"`
	// Hashes bounds the password hashes computed at once (default 2; each
	// costs about 0.1 s of one core); an attempt that cannot start one
	// within a second is answered 503 with Retry-After.
	Hashes int `yaml:"hashes"`
}

// Defaults of ConsoleLogin and MaxGateways, also applied by the console
// to a section that was never parsed (tests, a config without console).
const (
	DefaultLoginUserFailures    = 3
	DefaultLoginAddressFailures = 10
	DefaultLoginMaxDelay        = 5 * time.Minute
	DefaultLoginHashes          = 2
	DefaultMaxGateways          = 1000
)

// ConsoleFleet bounds the fleet page's states and alerts.
type ConsoleFleet struct {
	// SilentAfter: a gateway whose last status says online is silent once
	// nothing (status or telemetry) was heard from it for this long, and
	// alerted once per episode (default 5m; 90s … 24h: the gateway
	// publishes its status every 60 s).
	SilentAfter Duration `yaml:"silent_after"`
	// QueuePending and QueueBytes alert once per episode when a gateway's
	// queue holds more unsent records, or more bytes, than this (defaults
	// 100000 records and 100MB; "0" turns the bound off).
	QueuePending  *int64 `yaml:"queue_pending"`
	QueueBytesRaw string `yaml:"queue_bytes"`

	// QueueBytes is QueueBytesRaw parsed; 0: off.
	QueueBytes int64 `yaml:"-"`
	// QueueRecords is QueuePending resolved; 0: off.
	QueueRecords int64 `yaml:"-"`
}

// Defaults of ConsoleFleet.
const (
	DefaultFleetSilentAfter  = 5 * time.Minute
	DefaultFleetQueuePending = 100000
	DefaultFleetQueueBytes   = 100 << 20
)

// ConsoleUser is an account of the console.
type ConsoleUser struct {
	Name string `yaml:"name"`
	// Role: auditor or admin.
	Role string `yaml:"role"`
	// PasswordHash is printed by `collector -hash-password`; never the
	// password itself.
	PasswordHash string `yaml:"password_hash"`
	// Sites limits the user to these sites (an enterprise sees its own
	// boilers); nil, the field left out, means every site (a regulator or
	// auditor). Site ids are free-form: a site need not have data yet.
	Sites []string `yaml:"sites"`
}

// ConsoleSite describes one site for the console.
type ConsoleSite struct {
	ID       string `yaml:"id"`
	Title    string `yaml:"title"`
	Timezone string `yaml:"timezone"`

	Location *time.Location `yaml:"-"`
}

// Enabled reports whether the console is served.
func (c *Console) Enabled() bool { return len(c.Users) > 0 }

// UnmarshalYAML decodes and validates the console section with line
// numbers; unknown fields are errors, as everywhere else.
func (c *Console) UnmarshalYAML(n *yaml.Node) error {
	v := &nodeErrs{keyLine: map[*yaml.Node]int{}}
	v.index(n)
	checkKeys(v, n, reflect.TypeOf(*c))
	type plain Console
	if err := n.Decode((*plain)(c)); err != nil {
		return err
	}
	c.validate(v, n)
	if len(v.msgs) > 0 {
		return &yaml.TypeError{Errors: v.msgs}
	}
	return nil
}

func (c *Console) validate(v *nodeErrs, n *yaml.Node) {
	seen := map[string]bool{}
	for i := range c.Users {
		u := &c.Users[i]
		un := child(n, "users", i)
		if !validName(u.Name) || seen[u.Name] {
			v.at(child(un, "name"), "name: %q missing, duplicate or not letters, digits, - _ .", u.Name)
		}
		seen[u.Name] = true
		switch u.Role {
		case "auditor", "admin":
		case "":
			v.at(un, "role: missing; write auditor (read-only) or admin")
		default:
			v.at(child(un, "role"), "role: %q: want auditor or admin", u.Role)
		}
		if _, err := password.Parse(u.PasswordHash); err != nil {
			v.at(child(un, "password_hash"), "%v", err)
		}
		if sn := child(un, "sites"); sn != un && len(u.Sites) == 0 {
			// An empty (or null) list would show nothing at all, or,
			// read as "no list", everything; leaving the field out is
			// how a user sees every site.
			v.at(child(un, "sites"), "sites: empty; leave sites out for a user who sees every site, or list the user's sites")
		}
		userSites := map[string]bool{}
		for j, s := range u.Sites {
			if !telemetry.ValidName(s) {
				v.at(child(un, "sites", j), "sites[%d]: %q is not a site id: 1 to 64 of A-Z a-z 0-9 _ - . (not starting with _)", j, s)
			} else if userSites[s] {
				v.at(child(un, "sites", j), "sites[%d]: %q is listed twice", j, s)
			}
			userSites[s] = true
		}
	}
	switch c.SecureCookie {
	case "":
		c.SecureCookie = "auto"
	case "auto", "always", "never":
	default:
		v.at(child(n, "secure_cookie"), "secure_cookie: %q: want auto, always or never", c.SecureCookie)
	}
	c.SessionTTL.orDefault(12 * time.Hour)
	if c.SessionTTL.Duration < time.Minute || c.SessionTTL.Duration > 30*24*time.Hour {
		v.at(child(n, "session_ttl"), "session_ttl: %s: want 1m to 720h", c.SessionTTL.Duration)
	}
	if c.Timezone != "" {
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil {
			v.at(child(n, "timezone"), "timezone: %q is not a time zone (e.g. Asia/Shanghai)", c.Timezone)
		}
		c.Location = loc
	}
	sites := map[string]bool{}
	for i := range c.Sites {
		s := &c.Sites[i]
		sn := child(n, "sites", i)
		if !validName(s.ID) || sites[s.ID] {
			v.at(child(sn, "id"), "id: %q missing, duplicate or not a valid site id", s.ID)
		}
		sites[s.ID] = true
		if s.Timezone != "" {
			loc, err := time.LoadLocation(s.Timezone)
			if err != nil {
				v.at(child(sn, "timezone"), "timezone: %q is not a time zone (e.g. Asia/Shanghai)", s.Timezone)
			}
			s.Location = loc
		}
	}
	for i, o := range c.TrustedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			v.at(child(n, "trusted_origins", i), "trusted_origins: %q: want scheme://host[:port], e.g. https://boilerwatch.example.com", o)
		}
	}
	c.Proxies = nil
	for i, p := range c.TrustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil || a.Zone() != "" {
				v.at(child(n, "trusted_proxies", i), "trusted_proxies: %q: want an address or CIDR, e.g. 127.0.0.1 or 10.0.0.0/8", p)
				continue
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		c.Proxies = append(c.Proxies, pfx.Masked())
	}
	l := &c.Login
	ln := child(n, "login")
	if l.UserFailures == 0 {
		l.UserFailures = DefaultLoginUserFailures
	} else if l.UserFailures < 1 || l.UserFailures > 100 {
		v.at(child(ln, "user_failures"), "login.user_failures: %d: want 1 to 100", l.UserFailures)
	}
	if l.AddressFailures == 0 {
		l.AddressFailures = DefaultLoginAddressFailures
	} else if l.AddressFailures < 1 || l.AddressFailures > 1000 {
		v.at(child(ln, "address_failures"), "login.address_failures: %d: want 1 to 1000", l.AddressFailures)
	}
	l.MaxDelay.orDefault(DefaultLoginMaxDelay)
	if l.MaxDelay.Duration < time.Second || l.MaxDelay.Duration > time.Hour {
		v.at(child(ln, "max_delay"), "login.max_delay: %s: want 1s to 1h", l.MaxDelay.Duration)
	}
	if l.Hashes == 0 {
		l.Hashes = DefaultLoginHashes
	} else if l.Hashes < 1 || l.Hashes > 64 {
		v.at(child(ln, "hashes"), "login.hashes: %d: want 1 to 64", l.Hashes)
	}
	f := &c.Fleet
	fn := child(n, "fleet")
	f.SilentAfter.orDefault(DefaultFleetSilentAfter)
	if f.SilentAfter.Duration < 90*time.Second || f.SilentAfter.Duration > 24*time.Hour {
		v.at(child(fn, "silent_after"), "fleet.silent_after: %s: want 90s to 24h (a gateway publishes its status every 60 s)", f.SilentAfter.Duration)
	}
	f.QueueRecords = DefaultFleetQueuePending
	if f.QueuePending != nil {
		f.QueueRecords = *f.QueuePending
		if f.QueueRecords < 0 {
			v.at(child(fn, "queue_pending"), "fleet.queue_pending: %d: want a number of records, or 0 for no bound", f.QueueRecords)
		}
	}
	f.QueueBytes = DefaultFleetQueueBytes
	if f.QueueBytesRaw != "" {
		b, err := fwconfig.ParseBytes(f.QueueBytesRaw)
		if err != nil || b < 0 {
			v.at(child(fn, "queue_bytes"), "fleet.queue_bytes: %q: want a size such as 100MB, or 0 for no bound", f.QueueBytesRaw)
		}
		f.QueueBytes = b
	}
	if c.MaxGateways == 0 {
		c.MaxGateways = DefaultMaxGateways
	} else if c.MaxGateways < 1 || c.MaxGateways > 100000 {
		v.at(child(n, "max_gateways"), "max_gateways: %d: want 1 to 100000", c.MaxGateways)
	}
}
