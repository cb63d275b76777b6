package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/console/password"
	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
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
	SessionTTL conf.Duration `yaml:"session_ttl"`
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
	MaxDelay conf.Duration `yaml:"max_delay"`
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
	SilentAfter conf.Duration `yaml:"silent_after"`
	// QueuePending and QueueBytes alert once per episode when a gateway's
	// queue holds more unsent records, or more bytes, than this (defaults
	// 100000 records and 100MB; "0" turns the bound off).
	QueuePending *int64        `yaml:"queue_pending"`
	QueueBytes   conf.ByteSize `yaml:"queue_bytes"`

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

func (c *Console) validate(d *conf.Document, at string) {
	users := conf.Unique{What: "user name"}
	for i := range c.Users {
		u := &c.Users[i]
		un := fmt.Sprintf("%s.users[%d]", at, i)
		users.Check(d, un, "name", u.Name)
		switch u.Role {
		case "auditor", "admin":
		case "":
			d.Errorf(un+".role", "missing; write auditor (read-only) or admin")
		default:
			d.Errorf(un+".role", "%q: want auditor or admin", u.Role)
		}
		if _, err := password.Parse(u.PasswordHash); err != nil {
			d.Errorf(un+".password_hash", "%v", err)
		}
		if sn := un + ".sites"; d.Has(sn) && len(u.Sites) == 0 {
			// An empty (or null) list would show nothing at all, or,
			// read as "no list", everything; leaving the field out is
			// how a user sees every site.
			d.Errorf(un+".sites", "empty; leave sites out for a user who sees every site, or list the user's sites")
		}
		userSites := conf.Unique{What: "site id"}
		for j, s := range u.Sites {
			userSites.Check(d, fmt.Sprintf("%s.sites[%d]", un, j), "", s)
		}
	}
	switch c.SecureCookie {
	case "":
		c.SecureCookie = "auto"
	case "auto", "always", "never":
	default:
		d.Errorf(at+".secure_cookie", "%q: want auto, always or never", c.SecureCookie)
	}
	c.SessionTTL.Default(12 * time.Hour)
	if c.SessionTTL.Duration < time.Minute || c.SessionTTL.Duration > 30*24*time.Hour {
		d.Errorf(at+".session_ttl", "%s: want 1m to 720h", c.SessionTTL.Duration)
	}
	if c.Timezone != "" {
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil {
			d.Errorf(at+".timezone", "%q is not a time zone (e.g. Asia/Shanghai)", c.Timezone)
		}
		c.Location = loc
	}
	sites := conf.Unique{What: "site id"}
	for i := range c.Sites {
		s := &c.Sites[i]
		sn := fmt.Sprintf("%s.sites[%d]", at, i)
		sites.Check(d, sn, "id", s.ID)
		if s.Timezone != "" {
			loc, err := time.LoadLocation(s.Timezone)
			if err != nil {
				d.Errorf(sn+".timezone", "%q is not a time zone (e.g. Asia/Shanghai)", s.Timezone)
			}
			s.Location = loc
		}
	}
	for i, o := range c.TrustedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			d.Errorf(fmt.Sprintf("%s.trusted_origins[%d]", at, i), "%q: want scheme://host[:port], e.g. https://boilerwatch.example.com", o)
		}
	}
	c.Proxies = nil
	for i, p := range c.TrustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil || a.Zone() != "" {
				d.Errorf(fmt.Sprintf("%s.trusted_proxies[%d]", at, i), "%q: want an address or CIDR, e.g. 127.0.0.1 or 10.0.0.0/8", p)
				continue
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		c.Proxies = append(c.Proxies, pfx.Masked())
	}
	l := &c.Login
	ln := at + ".login"
	if l.UserFailures == 0 {
		l.UserFailures = DefaultLoginUserFailures
	} else if l.UserFailures < 1 || l.UserFailures > 100 {
		d.Errorf(ln+".user_failures", "%d: want 1 to 100", l.UserFailures)
	}
	if l.AddressFailures == 0 {
		l.AddressFailures = DefaultLoginAddressFailures
	} else if l.AddressFailures < 1 || l.AddressFailures > 1000 {
		d.Errorf(ln+".address_failures", "%d: want 1 to 1000", l.AddressFailures)
	}
	l.MaxDelay.Default(DefaultLoginMaxDelay)
	if l.MaxDelay.Duration < time.Second || l.MaxDelay.Duration > time.Hour {
		d.Errorf(ln+".max_delay", "%s: want 1s to 1h", l.MaxDelay.Duration)
	}
	if l.Hashes == 0 {
		l.Hashes = DefaultLoginHashes
	} else if l.Hashes < 1 || l.Hashes > 64 {
		d.Errorf(ln+".hashes", "%d: want 1 to 64", l.Hashes)
	}
	f := &c.Fleet
	fn := at + ".fleet"
	f.SilentAfter.Default(DefaultFleetSilentAfter)
	if f.SilentAfter.Duration < 90*time.Second || f.SilentAfter.Duration > 24*time.Hour {
		d.Errorf(fn+".silent_after", "%s: want 90s to 24h (a gateway publishes its status every 60 s)", f.SilentAfter.Duration)
	}
	f.QueueRecords = DefaultFleetQueuePending
	if f.QueuePending != nil {
		f.QueueRecords = *f.QueuePending
		if f.QueueRecords < 0 {
			d.Errorf(fn+".queue_pending", "%d: want a number of records, or 0 for no bound", f.QueueRecords)
		}
	}
	f.QueueBytes.Default(DefaultFleetQueueBytes)
	if c.MaxGateways == 0 {
		c.MaxGateways = DefaultMaxGateways
	} else if c.MaxGateways < 1 || c.MaxGateways > 100000 {
		d.Errorf(at+".max_gateways", "%d: want 1 to 100000", c.MaxGateways)
	}
}
