package telemetry_test

import (
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// The hand-written parser takes what the Encoder writes, in any JSON
// layout, and leaves to encoding/json every payload it is not sure of;
// whatever it takes, encoding/json decodes to the same message.
func TestDecodeFast(t *testing.T) {
	t.Parallel()
	msg := func(top, value string) string {
		if value == "" {
			value = `"x":{"v":1.5,"q":"good"}`
		}
		return `{"v":1,"site":"s","gateway":"g","seq":7,"boot":"b"` + top +
			`,"samples":[{"device":"d","profile":"p","class":"c","ts":1718000000000,"values":{` + value + `}}]}`
	}
	cases := []struct {
		name    string
		payload string
		fast    bool // taken by the hand-written parser
	}{
		{"plain", msg("", ""), true},
		{"historical", msg(`,"historical":true`, ""), true},
		{"not historical", msg(`,"historical":false`, ""), true},
		{"spaced", " \t\r\n" + strings.ReplaceAll(strings.ReplaceAll(msg("", ""), ":", " : "), ",", "\n,\t") + " \n", true},
		{"fields reordered", `{"samples":[{"values":{"x":{"q":"good","v":2}},"ts":1718000000000,"class":"c","profile":"p","device":"d"}],"boot":"b","seq":1,"gateway":"g","site":"s","v":1}`, true},
		{"two samples", strings.Replace(msg("", ""), `}}]}`, `}},{"device":"e","ts":1718000000001,"values":{"y":{"v":false,"q":"good"}}}]}`, 1), true},
		{"missing fields left zero", `{"v":1,"samples":[{}]}`, true},
		{"empty values", `{"v":1,"samples":[{"values":{}}]}`, true},
		{"bool, string, reset", msg("", `"a":{"v":true,"q":"good"},"b":{"v":"auto","q":"good"},"c":{"v":3,"q":"good","reset":true},"d":{"v":3,"q":"good","reset":false}`), true},
		{"bad and stale", msg("", `"a":{"q":"bad","err":"timeout"},"b":{"q":"stale"},"c":{"q":"unknown"}`), true},
		{"escapes the Encoder writes", msg("", `"a":{"v":"\u003cb\u003e \u0026 \"q\" \\ \n \u2028","q":"good"},"b":{"q":"bad","err":"\ud83d\ude00 \ud800 x"}`), true},
		{"escaped name", strings.Replace(msg("", ""), `"site":"s"`, `"site":"\u0073"`, 1), true},
		{"escaped quality", msg("", `"a":{"v":1,"q":"\u0067ood"}`), true},
		{"non-ASCII text", msg("", `"a":{"q":"stale","err":"超时"}`), true},
		{"numbers", msg("", `"a":{"v":-0,"q":"good"},"b":{"v":1e400,"q":"good"},"c":{"v":-1.5E-7,"q":"good"},"d":{"v":4.9e-324,"q":"good"},"e":{"v":1e-400,"q":"good"},"f":{"v":0.5e+2,"q":"good"}`), true},
		{"repeated point keeps the last", msg("", `"x":{"v":1,"q":"good"},"x":{"q":"bad"}`), true},
		{"largest seq", strings.Replace(msg("", ""), `"seq":7`, `"seq":18446744073709551615`, 1), true},
		{"largest ts", strings.Replace(msg("", ""), `"ts":1718000000000`, `"ts":9223372036854775807`, 1), true},

		// Left to encoding/json, which decodes some and refuses others.
		{"seq too large", strings.Replace(msg("", ""), `"seq":7`, `"seq":18446744073709551616`, 1), false},
		{"ts too large", strings.Replace(msg("", ""), `"ts":1718000000000`, `"ts":9223372036854775808`, 1), false},
		{"negative ts", strings.Replace(msg("", ""), `"ts":1718000000000`, `"ts":-1`, 1), false},
		{"seq with fraction", strings.Replace(msg("", ""), `"seq":7`, `"seq":7.0`, 1), false},
		{"seq with exponent", strings.Replace(msg("", ""), `"seq":7`, `"seq":7e0`, 1), false},
		{"seq leading zero", strings.Replace(msg("", ""), `"seq":7`, `"seq":07`, 1), false},
		{"seq as string", strings.Replace(msg("", ""), `"seq":7`, `"seq":"7"`, 1), false},
		{"version 2", strings.Replace(msg("", ""), `"v":1,"site"`, `"v":2,"site"`, 1), false},
		{"version 10", strings.Replace(msg("", ""), `"v":1,"site"`, `"v":10,"site"`, 1), false},
		{"version with fraction", strings.Replace(msg("", ""), `"v":1,"site"`, `"v":1.0,"site"`, 1), false},
		{"version huge", strings.Replace(msg("", ""), `"v":1,"site"`, `"v":18446744073709551617,"site"`, 1), false},
		{"no version", strings.Replace(msg("", ""), `"v":1,`, ``, 1), false},
		{"repeated field", strings.Replace(msg("", ""), `"site":"s"`, `"site":"s","site":"t"`, 1), false},
		{"repeated samples", strings.Replace(msg("", ""), `"boot":"b"`, `"boot":"b","samples":[{"device":"z"}]`, 1), false},
		{"repeated value field", msg("", `"x":{"v":1,"v":2,"q":"good"}`), false},
		{"key in other case", strings.Replace(msg("", ""), `"site"`, `"Site"`, 1), false},
		{"escaped key", strings.Replace(msg("", ""), `"site"`, `"\u0073ite"`, 1), false},
		{"unknown field", msg(`,"extra":1`, ""), false},
		{"unknown value field", msg("", `"x":{"v":1,"q":"good","unit":"t"}`), false},
		{"null samples", strings.Replace(msg("", ""), `[{"device"`, `null,"x":[{"device"`, 1), false},
		{"null string", strings.Replace(msg("", ""), `"site":"s"`, `"site":null`, 1), false},
		{"null historical", msg(`,"historical":null`, ""), false},
		{"null value", msg("", `"x":null`), false},
		{"null reading", msg("", `"x":{"v":null,"q":"bad"}`), false},
		{"null quality", msg("", `"x":{"v":1,"q":null}`), false},
		{"empty samples", `{"v":1,"site":"s","gateway":"g","seq":7,"boot":"b","samples":[]}`, false},
		{"reading an object", msg("", `"x":{"v":{},"q":"good"}`), false},
		{"reset a number", msg("", `"x":{"v":1,"q":"good","reset":1}`), false},
		{"number with plus", msg("", `"x":{"v":+1,"q":"good"}`), false},
		{"number leading zero", msg("", `"x":{"v":01,"q":"good"}`), false},
		{"number dot", msg("", `"x":{"v":1.,"q":"good"}`), false},
		{"number exponent", msg("", `"x":{"v":1e,"q":"good"}`), false},
		{"NaN", msg("", `"x":{"v":NaN,"q":"good"}`), false},
		{"bad escape", strings.Replace(msg("", ""), `"site":"s"`, `"site":"\x"`, 1), false},
		{"short unicode escape", strings.Replace(msg("", ""), `"site":"s"`, `"site":"\u12"`, 1), false},
		{"control character", strings.Replace(msg("", ""), `"site":"s"`, "\"site\":\"s\t\"", 1), false},
		{"trailing comma", `{"v":1,}`, false},
		{"trailing comma in values", msg("", `"x":{"v":1,"q":"good"},`), false},
		{"missing comma", strings.Replace(msg("", ""), `"site":"s",`, `"site":"s" `, 1), false},
		{"trailing data", msg("", "") + " {}", false},
		{"trailing garbage", msg("", "") + "x", false},
		{"truncated", msg("", "")[:60], false},
		{"array", "[" + msg("", "") + "]", false},
		{"BOM", "\ufeff" + msg("", ""), false},
		{"true misspelt", msg(`,"historical":tru`, ""), false},
		{"unterminated string", `{"v":1,"site":"s\"}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			payload := []byte(c.payload)
			if got := checkFastAgrees(t, payload); got != c.fast {
				t.Errorf("hand-written parser takes %s: %v, want %v", payload, got, c.fast)
			}
			checkAsBefore(t, payload)
		})
	}
	// Whatever the Encoder writes is taken.
	for name, m := range goMessages() {
		if !checkFastAgrees(t, (&telemetry.Encoder{}).Encode(m)) {
			t.Errorf("%s: the hand-written parser does not take what the Encoder writes", name)
		}
	}
}
