package config

import (
	"strings"
	"testing"
	"time"
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
		{"plain password", "console:\n  users:\n    - {name: a, role: auditor, password_hash: hunter2}\n", "c.yaml:5: console.users[0]: password hash: want pbkdf2-sha256"},
		{"bad role", "console:\n  users:\n    - {name: a, role: root, password_hash: \"" + testHash + "\"}\n", `role: "root": want auditor or admin`},
		{"no role", "console:\n  users:\n    - {name: a, password_hash: \"" + testHash + "\"}\n", "role: missing"},
		{"duplicate user", "console:\n  users:\n    - {name: a, role: admin, password_hash: \"" + testHash + "\"}\n    - {name: a, role: auditor, password_hash: \"" + testHash + "\"}\n", `name: "a" missing, duplicate`},
		{"bad user name", "console:\n  users:\n    - {name: \"a b\", role: admin, password_hash: \"" + testHash + "\"}\n", `name: "a b" missing, duplicate or not`},
		{"bad cookie mode", "console:\n  secure_cookie: sometimes\n", `secure_cookie: "sometimes": want auto, always or never`},
		{"short ttl", "console:\n  session_ttl: 1s\n", "session_ttl: 1s: want 1m to 720h"},
		{"bad zone", "console:\n  timezone: Mars/Olympus\n", `timezone: "Mars/Olympus" is not a time zone`},
		{"bad site", "console:\n  sites: [{id: \"a/b\"}]\n", `id: "a/b" missing, duplicate or not a valid site id`},
		{"bad origin", "console:\n  trusted_origins: [\"bw.example.com\"]\n", `trusted_origins: "bw.example.com": want scheme://host`},
		{"unknown field", "console:\n  users:\n    - {name: a, role: admin, password: pw}\n", `unknown field "password"`},
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
