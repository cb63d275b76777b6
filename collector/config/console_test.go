package config

import (
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
)

// A hash of "pw" (made with collector -hash-password).
const testHash = "pbkdf2-sha256$600000$yTvJI890PtLA+3ih2nJNxA$l44H1uEvx5Hn5AMp8yJaXjtHjThu6nlwUJOes5jHkpY"

func TestConsole(t *testing.T) {
	const base = "mqtt: {broker: \"tcp://b:1\"}\ninfluxdb: {url: \"http://x\", bucket: b}\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"absent: off", "", ""},
		{"one auditor", "console:\n  users:\n    - {name: li.wei, role: auditor, password_hash: \"" + testHash + "\"}\n", ""},
		{"everything", "console:\n  users: [{name: a, role: admin, password_hash: \"" + testHash + "\"}]\n  secure_cookie: always\n  session_ttl: 8h\n  timezone: Asia/Urumqi\n" +
			"  sites: [{id: plant-a, title: 甲厂, timezone: Asia/Shanghai}]\n  trusted_origins: [\"https://bw.example.com\"]\n", ""},
		{"plain password", "console:\n  users:\n    - {name: a, role: auditor, password_hash: hunter2}\n", "c.yaml:5: console.users[0].password_hash: password hash: want pbkdf2-sha256"},
		{"bad role", "console:\n  users:\n    - {name: a, role: root, password_hash: \"" + testHash + "\"}\n", `role: "root": want auditor or admin`},
		{"no role", "console:\n  users:\n    - {name: a, password_hash: \"" + testHash + "\"}\n", "role: missing"},
		{"duplicate user", "console:\n  users:\n    - {name: a, role: admin, password_hash: \"" + testHash + "\"}\n    - {name: a, role: auditor, password_hash: \"" + testHash + "\"}\n", `c.yaml:6: console.users[1].name: duplicate user name "a" (also console.users[0])`},
		{"bad user name", "console:\n  users:\n    - {name: \"a b\", role: admin, password_hash: \"" + testHash + "\"}\n", `c.yaml:5: console.users[0].name: "a b" is not a valid user name (letters, digits, - _ ., not starting with _, at most 64)`},
		{"bad cookie mode", "console:\n  secure_cookie: sometimes\n", `secure_cookie: "sometimes": want auto, always or never`},
		{"short ttl", "console:\n  session_ttl: 1s\n", "session_ttl: 1s: want 1m to 720h"},
		{"bad zone", "console:\n  timezone: Mars/Olympus\n", `timezone: "Mars/Olympus" is not a time zone`},
		{"bad site", "console:\n  sites: [{id: \"a/b\"}]\n", `c.yaml:4: console.sites[0].id: "a/b" is not a valid site id`},
		{"bad origin", "console:\n  trusted_origins: [\"bw.example.com\"]\n", `c.yaml:4: console.trusted_origins[0]: "bw.example.com": want scheme://host`},
		{"unknown field", "console:\n  users:\n    - {name: a, role: admin, password: pw}\n", `unknown field "password"`},
		{"scoped user", "console:\n  users:\n    - {name: a, role: auditor, password_hash: \"" + testHash + "\", sites: [plant-a, plant-b.2]}\n", ""},
		{"scope to a site nobody configured", "console:\n  users:\n    - {name: a, role: auditor, password_hash: \"" + testHash + "\", sites: [future-plant]}\n", ""},
		{"empty scope", "console:\n  users:\n    - name: a\n      role: auditor\n      password_hash: \"" + testHash + "\"\n      sites: []\n",
			"c.yaml:8: console.users[0].sites: empty; leave sites out for a user who sees every site"},
		{"null scope", "console:\n  users:\n    - name: a\n      role: auditor\n      password_hash: \"" + testHash + "\"\n      sites:\n",
			"c.yaml:8: console.users[0].sites: empty"},
		{"bad site in a scope", "console:\n  users:\n    - name: a\n      role: auditor\n      password_hash: \"" + testHash + "\"\n      sites:\n        - plant-a\n        - \"plant b\"\n",
			`c.yaml:10: console.users[0].sites[1]: "plant b" is not a valid site id`},
		{"reserved site in a scope", "console:\n  users:\n    - {name: a, role: auditor, password_hash: \"" + testHash + "\", sites: [_internal]}\n", `c.yaml:5: console.users[0].sites[0]: "_internal" is not a valid site id`},
		{"site twice in a scope", "console:\n  users:\n    - name: a\n      role: auditor\n      password_hash: \"" + testHash + "\"\n      sites: [plant-a, plant-a]\n",
			`c.yaml:8: console.users[0].sites[1]: duplicate site id "plant-a" (also console.users[0].sites[0])`},
		{"scope not a list", "console:\n  users:\n    - {name: a, role: auditor, password_hash: \"" + testHash + "\", sites: plant-a}\n", "c.yaml:5:"},
		{"login throttle", "console:\n  login: {user_failures: 5, address_failures: 20, max_delay: 10m, hashes: 4}\n  trusted_proxies: [127.0.0.1, \"10.0.0.0/8\", \"::1\"]\n  max_gateways: 50\n", ""},
		{"zero user failures is the default", "console:\n  login: {user_failures: 0}\n", ""},
		{"negative user failures", "console:\n  login:\n    user_failures: -1\n", "c.yaml:5: console.login.user_failures: -1: want 1 to 100"},
		{"too many address failures", "console:\n  login:\n    address_failures: 5000\n", "c.yaml:5: console.login.address_failures: 5000: want 1 to 1000"},
		{"max delay too short", "console:\n  login:\n    max_delay: 10ms\n", "c.yaml:5: console.login.max_delay: 10ms: want 1s to 1h"},
		{"max delay not a duration", "console:\n  login:\n    max_delay: long\n", `c.yaml:5: console.login.max_delay: "long" is not a duration`},
		{"too many hashes", "console:\n  login:\n    hashes: 1000\n", "c.yaml:5: console.login.hashes: 1000: want 1 to 64"},
		{"unknown login field", "console:\n  login:\n    attempts: 3\n", `unknown field "attempts"`},
		{"bad proxy", "console:\n  trusted_proxies:\n    - proxy.example.com\n", `c.yaml:5: console.trusted_proxies[0]: "proxy.example.com": want an address or CIDR`},
		{"bad max gateways", "console:\n  max_gateways: -5\n", "c.yaml:4: console.max_gateways: -5: want 1 to 100000"},
		{"fleet", "console:\n  fleet: {silent_after: 10m, queue_pending: 5000, queue_bytes: 20MB}\n", ""},
		{"fleet bounds off", "console:\n  fleet: {queue_pending: 0, queue_bytes: \"0\"}\n", ""},
		{"fleet silent too short", "console:\n  fleet:\n    silent_after: 30s\n", "c.yaml:5: console.fleet.silent_after: 30s: want 90s to 24h"},
		{"fleet silent not a duration", "console:\n  fleet:\n    silent_after: soon\n", `c.yaml:5: console.fleet.silent_after: "soon" is not a duration`},
		{"fleet negative pending", "console:\n  fleet:\n    queue_pending: -1\n", "c.yaml:5: console.fleet.queue_pending: -1: want a number of records"},
		{"fleet bad bytes", "console:\n  fleet:\n    queue_bytes: lots\n", `c.yaml:5: console.fleet.queue_bytes: "lots" is not a size (write e.g. 500MB, 2GiB or a number of bytes)`},
		{"fleet unknown field", "console:\n  fleet:\n    silent: 5m\n", `unknown field "silent"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte(base+tc.yaml))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			case tc.want == "" && tc.yaml == "" && c.Console.Enabled():
				t.Error("a config without console users enables the console")
			case tc.want == "" && tc.yaml != "" && c.Console.SessionTTL.Duration < time.Minute:
				t.Errorf("session ttl %s: defaults not applied", c.Console.SessionTTL.Duration)
			}
		})
	}
}

// TestConsoleValues checks what the section parses to: the scope as
// written, the proxies as prefixes, and the defaults of what was left out.
func TestConsoleValues(t *testing.T) {
	const base = "mqtt: {broker: \"tcp://b:1\"}\ninfluxdb: {url: \"http://x\", bucket: b}\n"
	for _, tc := range []struct {
		name, yaml string
		check      func(c Console) string
	}{
		{"defaults", "console:\n  users: [{name: a, role: auditor, password_hash: \"" + testHash + "\"}]\n", func(c Console) string {
			l := c.Login
			if c.Users[0].Sites != nil || l.UserFailures != 3 || l.AddressFailures != 10 || l.MaxDelay.Duration != 5*time.Minute || l.Hashes != 2 || c.MaxGateways != 1000 || c.Proxies != nil {
				return "defaults not applied"
			}
			return ""
		}},
		{"fleet defaults", "console:\n  users: [{name: a, role: auditor, password_hash: \"" + testHash + "\"}]\n", func(c Console) string {
			f := c.Fleet
			if f.SilentAfter.Duration != 5*time.Minute || f.QueueRecords != 100000 || f.QueueBytes.Bytes != 100<<20 {
				return "fleet defaults not applied"
			}
			return ""
		}},
		{"fleet as written", "console:\n  fleet: {silent_after: 10m, queue_pending: 0, queue_bytes: 20MB}\n", func(c Console) string {
			f := c.Fleet
			if f.SilentAfter.Duration != 10*time.Minute || f.QueueRecords != 0 || f.QueueBytes.Bytes != 20_000_000 && f.QueueBytes.Bytes != 20<<20 {
				return "fleet values not kept"
			}
			return ""
		}},
		{"as written", "console:\n  users: [{name: a, role: auditor, password_hash: \"" + testHash + "\", sites: [plant-b, plant-a]}]\n" +
			"  login: {user_failures: 5, address_failures: 20, max_delay: 10m, hashes: 4}\n  trusted_proxies: [127.0.0.1, \"10.1.2.3/8\", \"::1\"]\n  max_gateways: 50\n", func(c Console) string {
			l := c.Login
			if strings.Join(c.Users[0].Sites, ",") != "plant-b,plant-a" || l.UserFailures != 5 || l.AddressFailures != 20 || l.MaxDelay.Duration != 10*time.Minute || l.Hashes != 4 || c.MaxGateways != 50 {
				return "values not kept"
			}
			if len(c.Proxies) != 3 || c.Proxies[0].String() != "127.0.0.1/32" || c.Proxies[1].String() != "10.0.0.0/8" || c.Proxies[2].String() != "::1/128" {
				return "proxies parsed wrong"
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte(base+tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(c.Console); msg != "" {
				t.Errorf("%s: %+v", msg, c.Console)
			}
		})
	}
}

// TestConsoleDocExample parses the console section of docs/console.md,
// with a real hash where the doc abbreviates it.
func TestConsoleDocExample(t *testing.T) {
	y, ok := servicetest.DocBlocks(t, "docs/console.md", "yaml")["# collector.yaml, console section"]
	if !ok {
		t.Fatal("docs/console.md has no '# collector.yaml, console section' example")
	}
	y = strings.ReplaceAll(y, `"pbkdf2-sha256$600000$…"`, `"`+testHash+`"`)
	c, err := Parse("docs/console.md", []byte("mqtt: {broker: \"tcp://b:1\"}\ninfluxdb: {url: \"http://x\", bucket: b}\n"+y))
	if err != nil {
		t.Fatal(err)
	}
	con := c.Console
	if len(con.Users) != 2 || con.Users[0].Sites != nil || strings.Join(con.Users[1].Sites, ",") != "plant-a" {
		t.Errorf("users %+v: want li.wei unscoped and zhang.min on plant-a", con.Users)
	}
	l := con.Login
	if l.UserFailures != DefaultLoginUserFailures || l.AddressFailures != DefaultLoginAddressFailures || l.MaxDelay.Duration != DefaultLoginMaxDelay ||
		l.Hashes != DefaultLoginHashes || con.MaxGateways != DefaultMaxGateways {
		t.Errorf("login %+v, max_gateways %d: the doc says it shows the defaults", l, con.MaxGateways)
	}
}
