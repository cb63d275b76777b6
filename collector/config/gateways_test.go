package config

import (
	"strings"
	"testing"
)

func TestGateways(t *testing.T) {
	const influx = "influxdb: {url: \"http://x\", bucket: b}\n"
	gw := func(site, gateway, hash string) string {
		s := "  - {site: " + site + ", gateway: " + gateway
		if hash != "" {
			s += ", password_hash: \"" + hash + "\""
		}
		return s + "}\n"
	}
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"no registry, loopback", "mqtt: {embedded: \"127.0.0.1:1883\"}\n", ""},
		{"no registry, localhost", "mqtt: {embedded: \"localhost:1883\"}\n", ""},
		{"no registry, ipv6 loopback", "mqtt: {embedded: \"[::1]:1883\"}\n", ""},
		{"open on every interface",
			"mqtt:\n  embedded: \"0.0.0.0:1883\"\n",
			`c.yaml:2: mqtt.embedded: "0.0.0.0:1883" accepts clients from other machines without authentication`},
		{"open on an empty host", "mqtt:\n  embedded: \":1883\"\n", `c.yaml:2: mqtt.embedded: ":1883" accepts clients`},
		{"open on a LAN address", "mqtt:\n  embedded: \"192.168.1.5:1883\"\n", `c.yaml:2: mqtt.embedded: "192.168.1.5:1883" accepts`},
		{"registry without hashes is not authentication", "mqtt:\n  embedded: \"0.0.0.0:1883\"\ngateways:\n" + gw("plant-a", "gw-01", ""),
			`c.yaml:2: mqtt.embedded: "0.0.0.0:1883" accepts`},
		{"every interface with logins", "mqtt:\n  embedded: \"0.0.0.0:1883\"\ngateways:\n" + gw("plant-a", "gw-01", testHash) + gw("plant-b", "gw-01", testHash), ""},
		{"Mosquitto with a registry, no hashes", "mqtt: {broker: \"ssl://mq:8883\"}\ngateways:\n" + gw("plant-a", "gw-01", ""), ""},
		{"a gateway without a hash among logins", "mqtt: {embedded: \"127.0.0.1:1883\"}\ngateways:\n" + gw("plant-a", "gw-01", testHash) + gw("plant-a", "gw-02", ""),
			"c.yaml:4: gateways[1]: plant-a/gw-02 has no password_hash"},
		{"operator only turns logins on", "mqtt:\n  embedded: \"0.0.0.0:1883\"\n  embedded_users:\n    - {username: ops, role: operator, password_hash: \"" + testHash + "\"}\ngateways:\n" + gw("plant-a", "gw-01", ""),
			"c.yaml:6: gateways[0]: plant-a/gw-01 has no password_hash"},
		{"duplicate gateway", "mqtt: {broker: \"tcp://b:1\"}\ngateways:\n" + gw("plant-a", "gw-01", "") + gw("plant-a", "gw-01", ""),
			"c.yaml:4: gateways[1]: plant-a/gw-01 is listed twice"},
		{"same gateway id at two sites", "mqtt: {broker: \"tcp://b:1\"}\ngateways:\n" + gw("plant-a", "gw-01", "") + gw("plant-b", "gw-01", ""), ""},
		{"site with a slash", "mqtt: {broker: \"tcp://b:1\"}\ngateways:\n" + gw("\"plant/a\"", "gw-01", ""),
			`c.yaml:3: gateways[0].site: "plant/a" missing or not a valid site id`},
		{"wildcard gateway", "mqtt: {broker: \"tcp://b:1\"}\ngateways:\n" + gw("plant-a", "\"+\"", ""),
			`c.yaml:3: gateways[0].gateway: "+" missing or not a valid gateway id`},
		{"missing gateway", "mqtt: {broker: \"tcp://b:1\"}\ngateways:\n  - site: plant-a\n",
			`c.yaml:3: gateways[0].gateway: "" missing`},
		{"plain password", "mqtt: {broker: \"tcp://b:1\"}\ngateways:\n  - site: plant-a\n    gateway: gw-01\n    password_hash: hunter2\n",
			"c.yaml:5: gateways[0].password_hash: password hash: want pbkdf2-sha256"},
		{"unknown field", "mqtt: {broker: \"tcp://b:1\"}\ngateways:\n  - {site: plant-a, gateway: gw-01, password: x}\n", `unknown field "password"`},
		{"user role", "mqtt:\n  embedded: \"127.0.0.1:1883\"\n  embedded_users:\n    - username: ops\n      role: admin\n      password_hash: \"" + testHash + "\"\n",
			`c.yaml:5: mqtt.embedded_users[0].role: "admin": want collector or operator`},
		{"user without role", "mqtt:\n  embedded: \"127.0.0.1:1883\"\n  embedded_users:\n    - {username: ops, password_hash: \"" + testHash + "\"}\n",
			"c.yaml:4: mqtt.embedded_users[0]: role: missing"},
		{"user with a slash", "mqtt:\n  embedded: \"127.0.0.1:1883\"\n  embedded_users:\n    - {username: \"plant-a/gw-01\", role: operator, password_hash: \"" + testHash + "\"}\n",
			`c.yaml:4: mqtt.embedded_users[0].username: "plant-a/gw-01" is not a valid username`},
		{"the internal user", "mqtt:\n  embedded: \"127.0.0.1:1883\"\n  embedded_users:\n    - {username: \"$collector\", role: collector, password_hash: \"" + testHash + "\"}\n",
			`c.yaml:4: mqtt.embedded_users[0].username: "$collector" is not a valid username`},
		{"user twice", "mqtt:\n  embedded: \"127.0.0.1:1883\"\n  embedded_users:\n    - {username: c2, role: collector, password_hash: \"" + testHash + "\"}\n    - {username: c2, role: operator, password_hash: \"" + testHash + "\"}\n",
			`c.yaml:5: mqtt.embedded_users[1].username: duplicate username "c2" (also mqtt.embedded_users[0])`},
		{"user without hash", "mqtt:\n  embedded: \"127.0.0.1:1883\"\n  embedded_users:\n    - {username: c2, role: collector}\n",
			"c.yaml:4: mqtt.embedded_users[0].password_hash: password hash: want"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.yaml+influx))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("no error, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestKnownGateway(t *testing.T) {
	c, err := Parse("c.yaml", []byte("mqtt: {broker: \"tcp://b:1\"}\ninfluxdb: {url: \"http://x\", bucket: b}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.KnownGateway("any", "one") || c.EmbeddedAuth() {
		t.Error("without a registry every gateway is known and the embedded broker has no logins")
	}
	c, err = Parse("c.yaml", []byte(`mqtt: {embedded: "127.0.0.1:1883"}
influxdb: {url: "http://x", bucket: b}
gateways:
  - {site: plant-z, gateway: gw-01, password_hash: "`+testHash+`"}
  - {site: plant-a, gateway: gw-02, password_hash: "`+testHash+`"}
  - {site: plant-a, gateway: gw-01, password_hash: "`+testHash+`"}
  - {site: plant-b, gateway: gw-01, password_hash: "`+testHash+`"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.EmbeddedAuth() {
		t.Error("password hashes in the registry: the embedded broker should ask for logins")
	}
	for _, tc := range []struct {
		site, gw string
		want     bool
	}{
		{"plant-a", "gw-01", true}, {"plant-a", "gw-02", true}, {"plant-b", "gw-01", true}, {"plant-z", "gw-01", true},
		{"plant-b", "gw-02", false}, {"plant-c", "gw-01", false}, {"plant-a", "gw-0", false}, {"", "", false},
		{"plant-a/gw-01", "", false}, {"plant", "a/gw-01", false},
	} {
		if got := c.KnownGateway(tc.site, tc.gw); got != tc.want {
			t.Errorf("KnownGateway(%q, %q) = %v, want %v", tc.site, tc.gw, got, tc.want)
		}
	}
}
