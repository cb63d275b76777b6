package config

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	"github.com/boilerwatch/boilerwatch/collector/console/password"
	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
)

// Gateway is one entry of the gateway registry (the config's gateways
// list): a gateway this collector knows. Its identity, as MQTT username
// and as client certificate CN, is "site/gateway" (Identity), which the
// broker ACLs (deploy/mosquitto/boilerwatch.acl and the embedded broker's)
// turn into its own topics boilerwatch/v1/{site}/{gateway}/….
type Gateway struct {
	Site    string `yaml:"site"`
	Gateway string `yaml:"gateway"`
	// PasswordHash is the gateway's password for the embedded broker,
	// printed by `collector -hash-password`; its username is Identity().
	// Not needed with Mosquitto, which has its own password file or
	// client certificates.
	PasswordHash string `yaml:"password_hash"`
}

// Identity is the gateway's MQTT username and certificate CN: site/gateway.
func (g Gateway) Identity() string { return g.Site + "/" + g.Gateway }

// BrokerUser is an account of the embedded broker other than a gateway
// (mqtt.embedded_users): another collector (role collector: reads all
// telemetry and statuses, writes the heartbeat and alerts) or an operator
// who pushes signed configs (role operator: writes configs, reads their
// acknowledgements and the statuses). The collector's own clients need no
// account: they log in with a secret made at each start.
type BrokerUser struct {
	Username string `yaml:"username"`
	// Role: collector or operator.
	Role string `yaml:"role"`
	// PasswordHash is printed by `collector -hash-password`.
	PasswordHash string `yaml:"password_hash"`
}

// Broker user roles.
const (
	RoleCollector = "collector"
	RoleOperator  = "operator"
)

// KnownGateway reports whether the gateway registry lists (site, gateway);
// with no registry configured every gateway is known. Telemetry and
// statuses of unknown gateways are counted and dropped.
func (c *Collector) KnownGateway(site, gateway string) bool {
	if len(c.Gateways) == 0 {
		return true
	}
	i := sort.Search(len(c.Gateways), func(i int) bool {
		g := c.Gateways[i]
		return g.Site > site || g.Site == site && g.Gateway >= gateway
	})
	return i < len(c.Gateways) && c.Gateways[i].Site == site && c.Gateways[i].Gateway == gateway
}

// EmbeddedAuth reports whether the embedded broker asks every client for
// a username and password: as soon as any gateway has a password_hash or
// mqtt.embedded_users has an account. Without, it lets anyone in, which
// the config allows only on a loopback address.
func (c *Collector) EmbeddedAuth() bool {
	if len(c.MQTT.EmbeddedUsers) > 0 {
		return true
	}
	for _, g := range c.Gateways {
		if g.PasswordHash != "" {
			return true
		}
	}
	return false
}

// validateGateways checks the gateway registry and the embedded broker's
// accounts, and refuses an embedded broker that listens beyond this
// machine without authentication. Parse calls it.
func (c *Collector) validateGateways(d *conf.Document) {
	seen := map[string]bool{}
	for i, g := range c.Gateways {
		p := fmt.Sprintf("gateways[%d]", i)
		if !conf.ValidName(g.Site) {
			d.Errorf(p+".site", "%q missing or not a valid site id (%s)", g.Site, conf.NameRule)
		}
		if !conf.ValidName(g.Gateway) {
			d.Errorf(p+".gateway", "%q missing or not a valid gateway id (%s)", g.Gateway, conf.NameRule)
		}
		if seen[g.Identity()] {
			d.Errorf(p, "%s is listed twice", g.Identity())
		}
		seen[g.Identity()] = true
		if g.PasswordHash != "" {
			if _, err := password.Parse(g.PasswordHash); err != nil {
				d.Errorf(p+".password_hash", "%v", err)
			}
		}
	}
	users := conf.Unique{What: "username"}
	for i, u := range c.MQTT.EmbeddedUsers {
		p := fmt.Sprintf("mqtt.embedded_users[%d]", i)
		// A gateway's name has a slash; these never do, so the two
		// kinds of account cannot be confused.
		users.Check(d, p, "username", u.Username)
		switch u.Role {
		case RoleCollector, RoleOperator:
		case "":
			d.Errorf(p, "role: missing; write collector or operator")
		default:
			d.Errorf(p+".role", "%q: want collector or operator", u.Role)
		}
		if _, err := password.Parse(u.PasswordHash); err != nil {
			d.Errorf(p+".password_hash", "%v", err)
		}
	}
	if c.MQTT.Embedded != "" && c.EmbeddedAuth() {
		for i, g := range c.Gateways {
			if g.PasswordHash == "" {
				d.Errorf(fmt.Sprintf("gateways[%d]", i), "%s has no password_hash: with the embedded broker's logins on, it could not connect", g.Identity())
			}
		}
	}
	if c.MQTT.Embedded != "" && !c.EmbeddedAuth() && !loopback(c.MQTT.Embedded) {
		d.Errorf("mqtt.embedded", "%q accepts clients from other machines without authentication: "+
			"listen on 127.0.0.1, or give every gateway a password_hash (see README, Embedded broker)", c.MQTT.Embedded)
	}
	sort.Slice(c.Gateways, func(i, j int) bool {
		a, b := c.Gateways[i], c.Gateways[j]
		return a.Site < b.Site || a.Site == b.Site && a.Gateway < b.Gateway
	})
}

// loopback reports whether a listen address host:port is reachable only
// from this machine: a loopback IP or localhost. An empty host (":1883")
// listens on every interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
