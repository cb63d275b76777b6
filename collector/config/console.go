package config

import (
	"net/url"
	"reflect"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/boilerwatch/boilerwatch/collector/console/password"
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

	// Location is Timezone resolved, nil when unset.
	Location *time.Location `yaml:"-"`
}

// ConsoleUser is an account of the console.
type ConsoleUser struct {
	Name string `yaml:"name"`
	// Role: auditor or admin.
	Role string `yaml:"role"`
	// PasswordHash is printed by `collector -hash-password`; never the
	// password itself.
	PasswordHash string `yaml:"password_hash"`
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
}
