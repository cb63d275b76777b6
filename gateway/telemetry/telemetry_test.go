package telemetry_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry/telemetrytest"
)

// base is a valid message with one value of each kind; the cases below are
// edits of it, so that each one breaks exactly one rule.
const base = `{"v":1,"site":"plant-1","gateway":"gw-1","seq":7,"boot":"0123456789abcdef","samples":[` +
	`{"device":"boiler1","profile":"szl-chain-grate-plc","class":"boiler","ts":1718000000000,"values":{` +
	`"steam_flow":{"v":9.87,"q":"good"},"burner_running":{"v":true,"q":"good"},"mode":{"v":"auto","q":"good"},` +
	`"o2":{"q":"bad","err":"timeout"},"co":{"q":"stale"}}}]}`

// baseMessage is what Decode must make of base: numbers as float64.
func baseMessage() *telemetry.Message {
	return &telemetry.Message{
		V: 1, Site: "plant-1", Gateway: "gw-1", Seq: 7, Boot: "0123456789abcdef",
		Samples: []telemetry.Sample{{
			Device: "boiler1", Profile: "szl-chain-grate-plc", Class: "boiler", TS: 1718000000000,
			Values: map[string]telemetry.Value{
				"steam_flow":     telemetry.Number(9.87),
				"burner_running": telemetry.Boolean(true),
				"mode":           telemetry.Text("auto"),
				"o2":             {Q: telemetry.Bad, Err: "timeout"},
				"co":             {Q: telemetry.Stale},
			},
		}},
	}
}

// mutate decodes base into generic maps (numbers kept as written), lets f
// edit the message, its first sample and that sample's values, and encodes
// the result.
func mutate(f func(msg, sample, values map[string]any)) []byte {
	dec := json.NewDecoder(strings.NewReader(base))
	dec.UseNumber()
	var msg map[string]any
	if err := dec.Decode(&msg); err != nil {
		panic(err)
	}
	sample := msg["samples"].([]any)[0].(map[string]any)
	values := sample["values"].(map[string]any)
	f(msg, sample, values)
	out, err := json.Marshal(msg)
	if err != nil {
		panic(err)
	}
	return out
}

// set returns a mutation that sets one top-level field (delete when v is del).
func set(key string, v any) []byte {
	return mutate(func(msg, _, _ map[string]any) { put(msg, key, v) })
}

// setSample is set for the first sample.
func setSample(key string, v any) []byte {
	return mutate(func(_, s, _ map[string]any) { put(s, key, v) })
}

// setValue replaces the value of point "steam_flow" (or adds point key).
func setValue(key string, v any) []byte {
	return mutate(func(_, _, vals map[string]any) { put(vals, key, v) })
}

type deleted struct{}

var del deleted

func put(m map[string]any, key string, v any) {
	if v == del {
		delete(m, key)
		return
	}
	m[key] = v
}

func num(s string) json.Number { return json.Number(s) }

func good(v any) map[string]any { return map[string]any{"v": v, "q": "good"} }

// replace edits base textually, for what encoding/json cannot produce.
func replace(old, new string) []byte {
	if !strings.Contains(base, old) {
		panic("base does not contain " + old)
	}
	return []byte(strings.Replace(base, old, new, 1))
}

// padTo pads base with trailing whitespace to exactly n bytes.
func padTo(n int) []byte {
	return append([]byte(base), bytes.Repeat([]byte(" "), n-len(base))...)
}

// oversize is a well-formed message with so many samples that it exceeds
// MaxPayload (each sample takes more than 200 bytes).
func oversize() []byte {
	return mutate(func(msg, s, _ map[string]any) {
		var samples []any
		for i := range telemetry.MaxPayload / 200 {
			c := map[string]any{}
			for k, v := range s {
				c[k] = v
			}
			c["ts"] = 1718000000000 + i
			samples = append(samples, c)
		}
		msg["samples"] = samples
	})
}

type decodeCase struct {
	name    string
	payload []byte
	want    error // nil: Decode accepts
	// gap, when set, says why the JSON Schema's verdict differs from
	// Decode's here: a rule JSON Schema cannot state, or a leniency of
	// encoding/json that the contract does not grant.
	gap string
}

var (
	long64 = strings.Repeat("a", 64)
	long65 = strings.Repeat("a", 65)
	// 22 CJK characters: within maxLength 64, but 66 bytes.
	cjk66 = strings.Repeat("锅", 22)
)

const (
	gapBytes   = "maxLength counts characters, Decode counts bytes"
	gapInteger = "JSON Schema's integer accepts 1.0 and 1e0; Go's integer decoding does not"
	gapSize    = "the payload size limit is not a property of the JSON value"
	gapNull    = "encoding/json reads null as absent; the schema wants the field omitted"
)

func decodeCases() []decodeCase {
	return []decodeCase{
		// Accepted.
		{name: "base", payload: []byte(base)},
		{name: "historical", payload: set("historical", true)},
		{name: "historical false", payload: set("historical", false)},
		{name: "two samples", payload: mutate(func(msg, s, _ map[string]any) {
			msg["samples"] = append(msg["samples"].([]any), map[string]any{
				"device": "meter1", "profile": "chint-dtsu666", "class": "electricity_meter", "ts": 1718000000100,
				"values": map[string]any{"ep_import": good(123456.7)},
			})
		})},
		{name: "number spellings", payload: mutate(func(_, _, v map[string]any) {
			v["a"] = good(num("-0"))
			v["b"] = good(num("1.5e3"))
			v["c"] = good(num("1E-3"))
			v["d"] = good(num("-12"))
			v["e"] = good(num("1e-400")) // underflows to 0, which is finite
			v["f"] = good(num("1.7976931348623157e308"))
			v["g"] = good(num("-1.7976931348623157e308"))
		})},
		{name: "empty string and false", payload: mutate(func(_, _, v map[string]any) {
			v["label"] = good("")
			v["alarm"] = good(false)
		})},
		{name: "string NaN is a string", payload: setValue("steam_flow", good("NaN"))},
		{name: "string of 256 bytes", payload: setValue("steam_flow", good(strings.Repeat("x", 256)))},
		{name: "err of 256 bytes", payload: setValue("o2", map[string]any{"q": "bad", "err": strings.Repeat("e", 256)})},
		{name: "err on a good value", payload: setValue("steam_flow", map[string]any{"v": 1, "q": "good", "err": "recovered"})},
		{name: "bad without err", payload: setValue("o2", map[string]any{"q": "bad"})},
		{name: "ts at 2000-01-01", payload: setSample("ts", 946684800000)},
		{name: "ts at 2100-01-01", payload: setSample("ts", 4102444800000)},
		{name: "seq 0", payload: set("seq", 0)},
		{name: "seq 2^63-1", payload: set("seq", num("9223372036854775807"))},
		{name: "names of 64 characters", payload: mutate(func(msg, s, v map[string]any) {
			msg["site"] = long64
			s["device"] = long64
			v[long64] = good(1)
		})},
		{name: "names with digits dots dashes inner underscores", payload: mutate(func(msg, s, v map[string]any) {
			msg["gateway"] = "0.gw-1_a"
			s["class"] = "electricity_meter"
			v["Ua.1-x"] = good(230.1)
		})},
		{name: "non-ASCII err", payload: setValue("o2", map[string]any{"q": "bad", "err": "超时"})},
		{name: "err with quotes, backslash, tags and emoji", payload: setValue("o2", map[string]any{"q": "bad", "err": `read "x" \ <b> & 🔥 ü`})},
		{name: "boot of every printable ASCII character", payload: set("boot", `!"#$%&'()*+,-./09:;<=>?@AZ[\]^_`+"`az{|}~")},
		{name: "profile of 64 characters", payload: setSample("profile", long64)},
		{name: "point named Time (InfluxDB reserves only time)", payload: setValue("Time", good(1))},
		{name: "point named time_1", payload: setValue("time_1", good(1))},
		{name: "escaped lone surrogate becomes U+FFFD", payload: replace(`"timeout"`, `"\ud800"`)},
		{name: "whitespace around", payload: []byte("\n\t " + base + " \r\n")},
		{name: "padded to exactly MaxPayload", payload: padTo(telemetry.MaxPayload)},
		{name: "null historical", payload: set("historical", nil), gap: gapNull},
		{name: "null err", payload: setValue("o2", map[string]any{"q": "bad", "err": nil}), gap: gapNull},
		{name: "null v on a bad value", payload: setValue("o2", map[string]any{"q": "bad", "v": nil}), gap: gapNull},
		{name: "field names in another case", payload: replace(`"site":`, `"Site":`),
			gap: "encoding/json matches field names case-insensitively"},

		// ErrTooLarge.
		{name: "MaxPayload+1 bytes", payload: padTo(telemetry.MaxPayload + 1), want: telemetry.ErrTooLarge, gap: gapSize},
		{name: "too many samples", payload: oversize(), want: telemetry.ErrTooLarge, gap: gapSize},

		// ErrSyntax: not a JSON object.
		{name: "empty", payload: nil, want: telemetry.ErrSyntax},
		{name: "whitespace only", payload: []byte(" \n"), want: telemetry.ErrSyntax},
		{name: "not JSON", payload: []byte("steam_flow=9.87"), want: telemetry.ErrSyntax},
		{name: "binary garbage", payload: []byte{0x00, 0xff, 0xfe, 0x10, 0x80, 0x7b}, want: telemetry.ErrSyntax},
		{name: "invalid UTF-8 in a string", payload: replace("szl-chain", "szl\xff\xfechain"), want: telemetry.ErrSyntax},
		{name: "truncated", payload: []byte(base[:len(base)/2]), want: telemetry.ErrSyntax},
		{name: "trailing object", payload: []byte(base + "{}"), want: telemetry.ErrSyntax},
		{name: "trailing garbage", payload: []byte(base + "x"), want: telemetry.ErrSyntax},
		{name: "two messages", payload: []byte(base + "\n" + base), want: telemetry.ErrSyntax},
		{name: "top-level array", payload: []byte("[" + base + "]"), want: telemetry.ErrSyntax},
		{name: "top-level number", payload: []byte("1"), want: telemetry.ErrSyntax},
		{name: "top-level string", payload: []byte(`"v"`), want: telemetry.ErrSyntax},
		{name: "top-level true", payload: []byte("true"), want: telemetry.ErrSyntax},
		{name: "NaN literal", payload: replace("9.87", "NaN"), want: telemetry.ErrSyntax},
		{name: "Infinity literal", payload: replace("9.87", "-Infinity"), want: telemetry.ErrSyntax},
		{name: "comment", payload: []byte("// telemetry\n" + base), want: telemetry.ErrSyntax},
		{name: "single quotes", payload: replace(`"site"`, `'site'`), want: telemetry.ErrSyntax},
		{name: "nesting deeper than 10000", payload: []byte(`{"v":1,"x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + "}"), want: telemetry.ErrSyntax},
		{name: "v as string", payload: set("v", "1"), want: telemetry.ErrSyntax},
		{name: "v as true", payload: set("v", true), want: telemetry.ErrSyntax},
		{name: "v beyond int", payload: set("v", num("1e30")), want: telemetry.ErrSyntax},
		{name: "v as 1.0", payload: set("v", num("1.0")), want: telemetry.ErrSyntax, gap: gapInteger},
		{name: "v as 1e0", payload: set("v", num("1e0")), want: telemetry.ErrSyntax, gap: gapInteger},

		// ErrVersion.
		{name: "v missing", payload: set("v", del), want: telemetry.ErrVersion},
		{name: "v null", payload: set("v", nil), want: telemetry.ErrVersion},
		{name: "v 0", payload: set("v", 0), want: telemetry.ErrVersion},
		{name: "v 2", payload: set("v", 2), want: telemetry.ErrVersion},
		{name: "v -1", payload: set("v", -1), want: telemetry.ErrVersion},
		{name: "empty object", payload: []byte("{}"), want: telemetry.ErrVersion},
		{name: "null", payload: []byte("null"), want: telemetry.ErrVersion},

		// ErrInvalid: unknown fields and wrong types.
		{name: "unknown field", payload: set("unit", "t/h"), want: telemetry.ErrInvalid},
		{name: "unknown sample field", payload: setSample("quality", "good"), want: telemetry.ErrInvalid},
		{name: "unknown value field", payload: setValue("steam_flow", map[string]any{"v": 1, "q": "good", "unit": "t/h"}), want: telemetry.ErrInvalid},
		{name: "nested unknown field", payload: set("x", json.RawMessage(strings.Repeat("[", 500)+strings.Repeat("]", 500))), want: telemetry.ErrInvalid},
		{name: "site as number", payload: set("site", 1), want: telemetry.ErrInvalid},
		{name: "seq negative", payload: set("seq", -1), want: telemetry.ErrInvalid},
		{name: "seq as string", payload: set("seq", "7"), want: telemetry.ErrInvalid},
		{name: "seq fraction", payload: set("seq", num("7.5")), want: telemetry.ErrInvalid},
		{name: "seq beyond uint64", payload: set("seq", num("18446744073709551616")), want: telemetry.ErrInvalid},
		{name: "seq 2^63", payload: set("seq", num("9223372036854775808")), want: telemetry.ErrInvalid},
		{name: "seq max uint64", payload: set("seq", num("18446744073709551615")), want: telemetry.ErrInvalid},
		{name: "seq as 7.0", payload: set("seq", num("7.0")), want: telemetry.ErrInvalid, gap: gapInteger},
		{name: "historical as string", payload: set("historical", "yes"), want: telemetry.ErrInvalid},
		{name: "samples as object", payload: set("samples", map[string]any{}), want: telemetry.ErrInvalid},
		{name: "values as array", payload: setSample("values", []any{}), want: telemetry.ErrInvalid},
		{name: "ts as string", payload: setSample("ts", "1718000000000"), want: telemetry.ErrInvalid},
		{name: "ts with exponent", payload: setSample("ts", num("1.718e12")), want: telemetry.ErrInvalid, gap: gapInteger},
		{name: "ts as float", payload: setSample("ts", num("1718000000000.0")), want: telemetry.ErrInvalid, gap: gapInteger},
		{name: "q as number", payload: setValue("steam_flow", map[string]any{"v": 1, "q": 1}), want: telemetry.ErrInvalid},
		{name: "value as number", payload: setValue("steam_flow", 9.87), want: telemetry.ErrInvalid},

		// ErrInvalid: missing fields.
		{name: "site missing", payload: set("site", del), want: telemetry.ErrInvalid},
		{name: "gateway missing", payload: set("gateway", del), want: telemetry.ErrInvalid},
		{name: "boot missing", payload: set("boot", del), want: telemetry.ErrInvalid},
		{name: "seq missing", payload: set("seq", del),
			gap: "Go cannot tell a missing seq from seq 0, which is valid"},
		{name: "samples missing", payload: set("samples", del), want: telemetry.ErrInvalid},
		{name: "samples null", payload: set("samples", nil), want: telemetry.ErrInvalid},
		{name: "samples empty", payload: set("samples", []any{}), want: telemetry.ErrInvalid},
		{name: "device missing", payload: setSample("device", del), want: telemetry.ErrInvalid},
		{name: "profile missing", payload: setSample("profile", del), want: telemetry.ErrInvalid},
		{name: "class missing", payload: setSample("class", del), want: telemetry.ErrInvalid},
		{name: "ts missing", payload: setSample("ts", del), want: telemetry.ErrInvalid},
		{name: "values missing", payload: setSample("values", del), want: telemetry.ErrInvalid},
		{name: "values empty", payload: setSample("values", map[string]any{}), want: telemetry.ErrInvalid},
		{name: "q missing", payload: setValue("steam_flow", map[string]any{"v": 1}), want: telemetry.ErrInvalid},

		// ErrInvalid: names.
		{name: "site empty", payload: set("site", ""), want: telemetry.ErrInvalid},
		{name: "site starting with _", payload: set("site", "_plant"), want: telemetry.ErrInvalid},
		{name: "site with slash", payload: set("site", "plant/1"), want: telemetry.ErrInvalid},
		{name: "site with +", payload: set("site", "plant+"), want: telemetry.ErrInvalid},
		{name: "site with #", payload: set("site", "#"), want: telemetry.ErrInvalid},
		{name: "site with space", payload: set("site", "plant 1"), want: telemetry.ErrInvalid},
		{name: "site non-ASCII", payload: set("site", "工厂"), want: telemetry.ErrInvalid},
		{name: "site of 65 characters", payload: set("site", long65), want: telemetry.ErrInvalid},
		{name: "gateway with slash", payload: set("gateway", "gw/1"), want: telemetry.ErrInvalid},
		{name: "device with space", payload: setSample("device", "boiler 1"), want: telemetry.ErrInvalid},
		{name: "class starting with _", payload: setSample("class", "_boiler"), want: telemetry.ErrInvalid},
		{name: "point named _seq", payload: setValue("_seq", good(1)), want: telemetry.ErrInvalid},
		{name: "point name with space", payload: setValue("steam flow", good(1)), want: telemetry.ErrInvalid},
		{name: "point name empty", payload: setValue("", good(1)), want: telemetry.ErrInvalid},
		{name: "point name of 65 characters", payload: setValue(long65, good(1)), want: telemetry.ErrInvalid},
		{name: "point name with NUL", payload: setValue("a\x00", good(1)), want: telemetry.ErrInvalid},
		{name: "point named time", payload: setValue("time", good(1)), want: telemetry.ErrInvalid},
		{name: "point named _bad", payload: setValue("_bad", good("forged")), want: telemetry.ErrInvalid},
		{name: "bad point named time", payload: setValue("time", map[string]any{"q": "bad"}), want: telemetry.ErrInvalid},
		{name: "gateway with newline", payload: set("gateway", "gw-1\n"), want: telemetry.ErrInvalid},
		{name: "device with U+202E", payload: setSample("device", "boiler\u202e1"), want: telemetry.ErrInvalid},
		{name: "class with NUL", payload: setSample("class", "boiler\x00"), want: telemetry.ErrInvalid},
		{name: "point name with zero-width space", payload: setValue("o\u200b2", good(1)), want: telemetry.ErrInvalid},

		// ErrInvalid: profile, a name like the ids.
		{name: "profile ending in backslash", payload: setSample("profile", `szl\`), want: telemetry.ErrInvalid},
		{name: "profile with NUL", payload: setSample("profile", "szl\x00"), want: telemetry.ErrInvalid},
		{name: "profile with U+202E", payload: setSample("profile", "szl\u202eclp"), want: telemetry.ErrInvalid},
		{name: "profile with space", payload: setSample("profile", "szl plc"), want: telemetry.ErrInvalid},
		{name: "profile with comma", payload: setSample("profile", "szl,site=x"), want: telemetry.ErrInvalid},
		{name: "profile starting with _", payload: setSample("profile", "_szl"), want: telemetry.ErrInvalid},
		{name: "profile non-ASCII", payload: setSample("profile", "正泰-dtsu666"), want: telemetry.ErrInvalid},

		// ErrInvalid: boot, printable ASCII without spaces.
		{name: "boot with space", payload: set("boot", "0123 4567"), want: telemetry.ErrInvalid},
		{name: "boot with newline", payload: set("boot", "0123\n4567"), want: telemetry.ErrInvalid},
		{name: "boot with NUL", payload: set("boot", "0123\x004567"), want: telemetry.ErrInvalid},
		{name: "boot with DEL", payload: set("boot", "0123\x7f"), want: telemetry.ErrInvalid},
		{name: "boot with U+202E", payload: set("boot", "0123\u202e4567"), want: telemetry.ErrInvalid},
		{name: "boot non-ASCII", payload: set("boot", "启动-1"), want: telemetry.ErrInvalid},

		// ErrInvalid: err, no control or invisible format characters.
		{name: "err with newline", payload: setValue("o2", map[string]any{"q": "bad", "err": "timeout\nlevel=ERROR msg=forged"}), want: telemetry.ErrInvalid},
		{name: "err with carriage return", payload: setValue("o2", map[string]any{"q": "bad", "err": "timeout\r"}), want: telemetry.ErrInvalid},
		{name: "err with tab", payload: setValue("o2", map[string]any{"q": "bad", "err": "a\tb"}), want: telemetry.ErrInvalid},
		{name: "err with NUL", payload: setValue("o2", map[string]any{"q": "bad", "err": "a\x00"}), want: telemetry.ErrInvalid},
		{name: "err with ESC", payload: setValue("o2", map[string]any{"q": "bad", "err": "\x1b[31mred"}), want: telemetry.ErrInvalid},
		{name: "err with DEL", payload: setValue("o2", map[string]any{"q": "bad", "err": "a\x7f"}), want: telemetry.ErrInvalid},
		{name: "err with C1 NEL", payload: setValue("o2", map[string]any{"q": "bad", "err": "a\u0085b"}), want: telemetry.ErrInvalid},
		{name: "err with U+202E", payload: setValue("o2", map[string]any{"q": "bad", "err": "ok \u202edaolrevo"}), want: telemetry.ErrInvalid},
		{name: "err with U+2066 isolate", payload: setValue("o2", map[string]any{"q": "bad", "err": "\u2066x\u2069"}), want: telemetry.ErrInvalid},
		{name: "err with zero-width space", payload: setValue("o2", map[string]any{"q": "bad", "err": "a\u200bb"}), want: telemetry.ErrInvalid},
		{name: "err with BOM", payload: setValue("o2", map[string]any{"q": "bad", "err": "\ufeffa"}), want: telemetry.ErrInvalid},
		{name: "err with line separator", payload: setValue("o2", map[string]any{"q": "bad", "err": "a\u2028b"}), want: telemetry.ErrInvalid},
		{name: "err with paragraph separator", payload: setValue("o2", map[string]any{"q": "bad", "err": "a\u2029b"}), want: telemetry.ErrInvalid},
		{name: "err with a tag character", payload: setValue("o2", map[string]any{"q": "bad", "err": "a\U000E0041"}), want: telemetry.ErrInvalid},
		{name: "err on a stale value with newline", payload: setValue("co", map[string]any{"q": "stale", "err": "x\n"}), want: telemetry.ErrInvalid},
		{name: "err on a good value with U+202E", payload: setValue("steam_flow", map[string]any{"v": 1, "q": "good", "err": "\u202e"}), want: telemetry.ErrInvalid},

		// ErrInvalid: lengths and ranges.
		{name: "boot empty", payload: set("boot", ""), want: telemetry.ErrInvalid},
		{name: "boot of 65 bytes", payload: set("boot", long65), want: telemetry.ErrInvalid},
		{name: "boot of 66 bytes in 22 characters", payload: set("boot", cjk66), want: telemetry.ErrInvalid},
		{name: "profile empty", payload: setSample("profile", ""), want: telemetry.ErrInvalid},
		{name: "profile of 65 bytes", payload: setSample("profile", long65), want: telemetry.ErrInvalid},
		{name: "ts before 2000", payload: setSample("ts", 946684799999), want: telemetry.ErrInvalid},
		{name: "ts after 2100", payload: setSample("ts", 4102444800001), want: telemetry.ErrInvalid},
		{name: "ts in seconds", payload: setSample("ts", 1718000000), want: telemetry.ErrInvalid},
		{name: "ts in microseconds", payload: setSample("ts", int64(1718000000000000)), want: telemetry.ErrInvalid},
		{name: "ts negative", payload: setSample("ts", -1), want: telemetry.ErrInvalid},
		{name: "string value of 257 bytes", payload: setValue("mode", good(strings.Repeat("x", 257))), want: telemetry.ErrInvalid},
		{name: "string value of 300 bytes in 100 characters", payload: setValue("mode", good(strings.Repeat("温", 100))), want: telemetry.ErrInvalid, gap: gapBytes},
		{name: "err of 257 bytes", payload: setValue("o2", map[string]any{"q": "bad", "err": strings.Repeat("e", 257)}), want: telemetry.ErrInvalid},
		{name: "number overflowing float64", payload: setValue("steam_flow", good(num("1e400"))), want: telemetry.ErrInvalid},
		{name: "negative number overflowing float64", payload: setValue("steam_flow", good(num("-1e400"))), want: telemetry.ErrInvalid},
		{name: "number just past float64", payload: setValue("steam_flow", good(num("1.7976931348623159e308"))), want: telemetry.ErrInvalid},

		// ErrInvalid: qualities.
		{name: "q GOOD", payload: setValue("steam_flow", map[string]any{"v": 1, "q": "GOOD"}), want: telemetry.ErrInvalid},
		{name: "q uncertain", payload: setValue("steam_flow", map[string]any{"v": 1, "q": "uncertain"}), want: telemetry.ErrInvalid},
		{name: "q BAD without v", payload: setValue("o2", map[string]any{"q": "BAD"}), want: telemetry.ErrInvalid},
		{name: "q missing without v", payload: setValue("co", map[string]any{"err": "timeout"}), want: telemetry.ErrInvalid},
		{name: "q empty", payload: setValue("steam_flow", map[string]any{"v": 1, "q": ""}), want: telemetry.ErrInvalid},
		{name: "good without v", payload: setValue("steam_flow", map[string]any{"q": "good"}), want: telemetry.ErrInvalid},
		{name: "good with null", payload: setValue("steam_flow", good(nil)), want: telemetry.ErrInvalid},
		{name: "good with array", payload: setValue("steam_flow", good([]any{1, 2})), want: telemetry.ErrInvalid},
		{name: "good with object", payload: setValue("steam_flow", good(map[string]any{"x": 1})), want: telemetry.ErrInvalid},
		{name: "bad with a number", payload: setValue("o2", map[string]any{"v": 0, "q": "bad", "err": "timeout"}), want: telemetry.ErrInvalid},
		{name: "bad with false", payload: setValue("o2", map[string]any{"v": false, "q": "bad"}), want: telemetry.ErrInvalid},
		{name: "stale with a number", payload: setValue("co", map[string]any{"v": 12, "q": "stale"}), want: telemetry.ErrInvalid},
	}
}

var sentinels = []error{telemetry.ErrTooLarge, telemetry.ErrSyntax, telemetry.ErrVersion, telemetry.ErrInvalid}

// TestDecode checks each case against its expected sentinel, and that an
// error wraps exactly one sentinel, since the collector counts rejects by it.
func TestDecode(t *testing.T) {
	t.Parallel()
	for _, c := range decodeCases() {
		t.Run(c.name, func(t *testing.T) {
			m, err := telemetry.Decode(c.payload)
			if c.want == nil {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if m == nil || len(m.Samples) == 0 {
					t.Fatalf("Decode returned %+v", m)
				}
				return
			}
			if m != nil {
				t.Errorf("Decode returned a message along with err %v", err)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode error = %v, want %v", err, c.want)
			}
			for _, s := range sentinels {
				if s != c.want && errors.Is(err, s) {
					t.Errorf("error %v also wraps %v", err, s)
				}
			}
		})
	}
}

// TestDecodeContent checks what Decode makes of a message, beyond accepting
// it: numbers become float64, bad and stale values stay without a value.
func TestDecodeContent(t *testing.T) {
	t.Parallel()
	got, err := telemetry.Decode([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if want := baseMessage(); !reflect.DeepEqual(got, want) {
		t.Errorf("Decode(base) =\n%#v\nwant\n%#v", got, want)
	}

	// Every JSON spelling of a number arrives as a float64 of that value.
	got, err = telemetry.Decode(mutate(func(_, _, v map[string]any) {
		v["i"] = good(num("42"))
		v["e"] = good(num("1.5e3"))
		v["u"] = good(num("1e-400"))
		v["m"] = good(num("-1.7976931348623157e308"))
	}))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{"i": 42, "e": 1500, "u": 0, "m": -math.MaxFloat64} {
		if v := got.Samples[0].Values[name]; v.Kind != telemetry.KindNumber || v.Num != want {
			t.Errorf("%s = %#v, want float64 %v", name, v, want)
		}
	}
}

// TestTopics checks the topic layout the docs promise.
func TestTopics(t *testing.T) {
	t.Parallel()
	if got := telemetry.SamplesTopic("plant-1", "gw-1"); got != "boilerwatch/v1/plant-1/gw-1/telemetry" {
		t.Errorf("SamplesTopic = %q", got)
	}
	if got := telemetry.StatusTopic("plant-1", "gw-1"); got != "boilerwatch/v1/plant-1/gw-1/status" {
		t.Errorf("StatusTopic = %q", got)
	}
	site, gw, kind, err := telemetry.ParseTopic("boilerwatch/v1/plant-1/gw-1/telemetry")
	if err != nil || site != "plant-1" || gw != "gw-1" || kind != "telemetry" {
		t.Errorf("ParseTopic = %q, %q, %q, %v", site, gw, kind, err)
	}
	for _, bad := range []string{
		"", "/boilerwatch/v1/plant-1/gw-1/telemetry", "boilerwatch/v2/plant-1/gw-1/telemetry",
		"boilerwatch/v1//gw-1/telemetry", "boilerwatch/v1/plant-1//telemetry",
		"boilerwatch/v1/plant-1/gw-1", "boilerwatch/v1/plant-1/gw-1/config/ack", "other/v1/plant-1/gw-1/telemetry",
	} {
		if _, _, _, err := telemetry.ParseTopic(bad); err == nil {
			t.Errorf("ParseTopic(%q) accepted", bad)
		}
	}
}

// schemas compiles the telemetry and status JSON Schemas in docs/.
func schemas(t *testing.T) (msg, status *jsonschema.Schema) {
	t.Helper()
	return telemetrytest.Schema(t, "wire-format.schema.json"), telemetrytest.Schema(t, "status.schema.json")
}

// TestSchemaAgreesWithDecode: the telemetry schema accepts what Decode
// accepts and rejects what it rejects, except for the listed gaps — and a
// listed gap must still be a gap, so the list in docs/wire-format.md stays
// true when either side changes.
func TestSchemaAgreesWithDecode(t *testing.T) {
	t.Parallel()
	msgSchema, _ := schemas(t)
	for _, c := range decodeCases() {
		t.Run(c.name, func(t *testing.T) {
			serr := telemetrytest.Check(msgSchema, c.payload)
			decodes := c.want == nil
			switch {
			case c.gap == "" && decodes && serr != nil:
				t.Errorf("Decode accepts, the schema rejects: %v", serr)
			case c.gap == "" && !decodes && serr == nil:
				t.Errorf("Decode rejects (%v), the schema accepts", c.want)
			case c.gap != "" && decodes == (serr == nil):
				t.Errorf("listed as a gap (%s), but schema and Decode agree (schema error: %v)", c.gap, serr)
			}
		})
	}
}

// goMessages are messages as a gateway builds them in Go.
func goMessages() map[string]*telemetry.Message {
	full := baseMessage()
	full.Historical = true
	full.Seq = math.MaxInt64
	full.Samples = append(full.Samples, telemetry.Sample{
		Device: "meter1", Profile: "chint-dtsu666", Class: "electricity_meter", TS: 4102444800000,
		Values: map[string]telemetry.Value{
			"ua":        telemetry.Number(230.1),
			"ep_import": telemetry.Number(1e15),
			"tiny":      telemetry.Number(5e-324),
			"neg":       telemetry.Number(-math.MaxFloat64),
			"zero":      telemetry.Number(0.0),
			"off":       telemetry.Boolean(false),
			"empty":     telemetry.Text(""),
			"html":      telemetry.Text("<a & b>"),
			"ia":        {Q: telemetry.Bad, Err: "modbus: exception '2' (illegal data address), function '3'"},
			"freq":      {Q: telemetry.Stale, Err: "超时"},
		},
	})
	minimal := &telemetry.Message{
		V: telemetry.Version, Site: "s", Gateway: "g", Boot: "b",
		Samples: []telemetry.Sample{{Device: "d", Profile: "p", Class: "c", TS: 946684800000,
			Values: map[string]telemetry.Value{"x": {Q: telemetry.Bad}}}},
	}
	return map[string]*telemetry.Message{"base": baseMessage(), "full": full, "minimal": minimal}
}

// TestSchemaAcceptsMarshalled: what json.Marshal makes of a Go message —
// the gateway's encoder — decodes to the same message and fits the schema;
// a zero Message fits neither.
func TestSchemaAcceptsMarshalled(t *testing.T) {
	t.Parallel()
	msgSchema, _ := schemas(t)
	for name, m := range goMessages() {
		t.Run(name, func(t *testing.T) {
			payload, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := telemetry.Decode(payload)
			if err != nil {
				t.Fatalf("Decode(%s): %v", payload, err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("round trip changed the message:\n got %#v\nwant %#v", got, m)
			}
			if err := telemetrytest.Check(msgSchema, payload); err != nil {
				t.Errorf("schema rejects %s: %v", payload, err)
			}
		})
	}
	zero, err := json.Marshal(telemetry.Message{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := telemetry.Decode(zero); err == nil {
		t.Errorf("Decode accepts the zero message %s", zero)
	}
	if telemetrytest.Check(msgSchema, zero) == nil {
		t.Errorf("schema accepts the zero message %s", zero)
	}
}

// TestStatusSchema checks the status schema against statuses as the
// gateway's publisher builds them, and against broken ones.
func TestStatusSchema(t *testing.T) {
	t.Parallel()
	_, statusSchema := schemas(t)
	valid := map[string]telemetry.Status{
		"will": {V: telemetry.Version, Gateway: "gw-1", State: "offline", Boot: "0123456789abcdef"},
		"birth": {V: telemetry.Version, Gateway: "gw-1", State: "online", Version: "1.4.0", ConfigVersion: "12",
			ConfigApplied: 1717990000000, Queue: &telemetry.QueueStatus{Pending: 3, Bytes: 4096, OldestTS: 1717999998000},
			Boot: "0123456789abcdef", Seq: 48212, TS: 1718000000031, Devices: map[string]telemetry.DeviceState{
				"boiler1": {State: "online"},
				"meter1":  {State: "degraded", LastError: "i/o timeout"},
				"o2-1":    {State: "offline", LastError: "connection refused"},
				"new":     {State: "unknown"},
			}},
	}
	for name, st := range valid {
		payload, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if err := telemetrytest.Check(statusSchema, payload); err != nil {
			t.Errorf("%s: schema rejects %s: %v", name, payload, err)
		}
	}
	invalid := map[string]string{
		"v 2":                  `{"v":2,"gateway":"gw-1","state":"online","boot":"b"}`,
		"state missing":        `{"v":1,"gateway":"gw-1","boot":"b"}`,
		"boot missing":         `{"v":1,"gateway":"gw-1","state":"online"}`,
		"state sleeping":       `{"v":1,"gateway":"gw-1","state":"sleeping","boot":"b"}`,
		"gateway with slash":   `{"v":1,"gateway":"gw/1","state":"online","boot":"b"}`,
		"unknown field":        `{"v":1,"gateway":"gw-1","state":"online","boot":"b","site":"plant-1"}`,
		"device state broken":  `{"v":1,"gateway":"gw-1","state":"online","boot":"b","devices":{"d":{"state":"broken"}}}`,
		"device name invalid":  `{"v":1,"gateway":"gw-1","state":"online","boot":"b","devices":{"_d":{"state":"online"}}}`,
		"device unknown field": `{"v":1,"gateway":"gw-1","state":"online","boot":"b","devices":{"d":{"state":"online","x":1}}}`,
		"ts in seconds":        `{"v":1,"gateway":"gw-1","state":"online","boot":"b","ts":1718000000}`,
		"seq negative":         `{"v":1,"gateway":"gw-1","state":"online","boot":"b","seq":-1}`,
		"config_applied in s":  `{"v":1,"gateway":"gw-1","state":"online","boot":"b","config_applied":1718000000}`,
		"oldest_ts in s":       `{"v":1,"gateway":"gw-1","state":"online","boot":"b","queue":{"pending":1,"bytes":1,"dropped":0,"lost":0,"damaged":0,"quarantined":0,"oldest_ts":1718000000}}`,
	}
	for name, payload := range invalid {
		if telemetrytest.Check(statusSchema, []byte(payload)) == nil {
			t.Errorf("%s: schema accepts %s", name, payload)
		}
	}
}

// TestSchemasMatchStructs: each schema object lists exactly the JSON fields
// of its Go struct, and requires exactly those without omitempty — so a
// field added in Go without the schema (or the reverse) fails here.
func TestSchemasMatchStructs(t *testing.T) {
	t.Parallel()
	msg := telemetrytest.Doc(t, "wire-format.schema.json").(map[string]any)
	status := telemetrytest.Doc(t, "status.schema.json").(map[string]any)
	alert := telemetrytest.Doc(t, "alert.schema.json").(map[string]any)
	updateAck := telemetrytest.Doc(t, "update-ack.schema.json").(map[string]any)
	def := func(root map[string]any, name string) map[string]any {
		d, ok := root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok {
			t.Fatalf("schema has no $defs/%s", name)
		}
		return d
	}
	for _, c := range []struct {
		name   string
		schema map[string]any
		typ    reflect.Type
	}{
		{"Message", msg, reflect.TypeFor[telemetry.Message]()},
		{"Sample", def(msg, "sample"), reflect.TypeFor[telemetry.Sample]()},
		{"Status", status, reflect.TypeFor[telemetry.Status]()},
		{"DeviceState", def(status, "device"), reflect.TypeFor[telemetry.DeviceState]()},
		{"QueueStatus", def(status, "queue"), reflect.TypeFor[telemetry.QueueStatus]()},
		// boiler and gateway: optional, one of them required by its oneOf.
		{"Alert", alert, reflect.TypeFor[telemetry.Alert]()},
		{"UpdateAck", updateAck, reflect.TypeFor[telemetry.UpdateAck]()},
	} {
		var fields, required []string
		for i := range c.typ.NumField() {
			name, opts, _ := strings.Cut(c.typ.Field(i).Tag.Get("json"), ",")
			fields = append(fields, name)
			if !strings.Contains(opts, "omitempty") {
				required = append(required, name)
			}
		}
		var props, req []string
		for k := range c.schema["properties"].(map[string]any) {
			props = append(props, k)
		}
		for _, r := range c.schema["required"].([]any) {
			req = append(req, r.(string))
		}
		slices.Sort(fields)
		slices.Sort(required)
		slices.Sort(props)
		slices.Sort(req)
		if !slices.Equal(fields, props) {
			t.Errorf("%s: Go fields %v, schema properties %v", c.name, fields, props)
		}
		if !slices.Equal(required, req) {
			t.Errorf("%s: Go fields without omitempty %v, schema requires %v", c.name, required, req)
		}
		if c.schema["additionalProperties"] != false {
			t.Errorf("%s: schema allows additional properties", c.name)
		}
	}
	// Value has its own JSON form: compare the keys of a value with every
	// field set, and of one with only what is always written.
	value := def(msg, "value")
	keys := func(v telemetry.Value) []string {
		var m map[string]any
		b, _ := json.Marshal(v)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return slices.Sorted(maps.Keys(m))
	}
	full := telemetry.Number(1)
	full.Err, full.Reset = "x", true
	if got, want := keys(full), slices.Sorted(maps.Keys(value["properties"].(map[string]any))); !slices.Equal(got, want) {
		t.Errorf("Value: JSON fields %v, schema properties %v", got, want)
	}
	var req []string
	for _, r := range value["required"].([]any) {
		req = append(req, r.(string))
	}
	if got := keys(telemetry.Value{Q: telemetry.Bad}); !slices.Equal(got, req) {
		t.Errorf("Value: JSON fields always written %v, schema requires %v", got, req)
	}
	if value["additionalProperties"] != false {
		t.Errorf("Value: schema allows additional properties")
	}
}

// docBlocks returns the bodies of the ```json fenced blocks of a Markdown file.
func docBlocks(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```json":
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, line)
		}
	}
	if in {
		t.Fatalf("%s: unterminated ```json block", path)
	}
	return blocks
}

// TestDocExamples: the examples in docs/wire-format.md decode and validate,
// and the numbers it states are the code's.
func TestDocExamples(t *testing.T) {
	t.Parallel()
	msgSchema, statusSchema := schemas(t)
	alertSchema := telemetrytest.Schema(t, "alert.schema.json")
	path := filepath.Join(telemetrytest.DocsDir(), "wire-format.md")
	var telemetryN, statusN, updateN int
	alertKinds := map[string]bool{}
	for i, b := range docBlocks(t, path) {
		payload := []byte(b)
		var probe map[string]any
		if err := json.Unmarshal(payload, &probe); err != nil {
			t.Errorf("block %d is not JSON: %v", i, err)
			continue
		}
		if _, ok := probe["samples"]; ok {
			telemetryN++
			m, err := telemetry.Decode(payload)
			if err != nil {
				t.Errorf("block %d: Decode: %v", i, err)
				continue
			}
			if err := telemetrytest.Check(msgSchema, payload); err != nil {
				t.Errorf("block %d: telemetry schema: %v", i, err)
			}
			// The example shows each quality.
			seen := map[telemetry.Quality]bool{}
			for _, s := range m.Samples {
				for _, v := range s.Values {
					seen[v.Q] = true
				}
			}
			if !seen[telemetry.Good] || !seen[telemetry.Bad] || !seen[telemetry.Stale] {
				t.Errorf("block %d: example shows qualities %v, want good, bad and stale", i, seen)
			}
			continue
		}
		if _, ok := probe["kind"]; ok {
			a, err := telemetry.DecodeAlert(payload)
			if err != nil {
				t.Errorf("block %d: DecodeAlert: %v", i, err)
				continue
			}
			if err := telemetrytest.Check(alertSchema, payload); err != nil {
				t.Errorf("block %d: alert schema: %v", i, err)
			}
			alertKinds[a.Kind] = true
			continue
		}
		if _, ok := probe["release"]; ok {
			updateN++
			checkUpdateAck(t, i, payload)
			continue
		}
		if _, ok := probe["running"]; ok {
			// A config ack: it must be one, field for field.
			dec := json.NewDecoder(bytes.NewReader(payload))
			dec.DisallowUnknownFields()
			var a telemetry.ConfigAck
			if err := dec.Decode(&a); err != nil {
				t.Errorf("block %d: not a ConfigAck: %v", i, err)
			}
			if a.V != telemetry.Version || (a.Status != telemetry.ConfigApplied && a.Status != telemetry.ConfigRejected && a.Status != telemetry.ConfigRolledBack) {
				t.Errorf("block %d: config ack %+v: want v %d and a known status", i, a, telemetry.Version)
			}
			continue
		}
		statusN++
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.DisallowUnknownFields()
		var st telemetry.Status
		if err := dec.Decode(&st); err != nil {
			t.Errorf("block %d: not a Status: %v", i, err)
		}
		if err := telemetrytest.Check(statusSchema, payload); err != nil {
			t.Errorf("block %d: status schema: %v", i, err)
		}
	}
	if updateN == 0 {
		t.Errorf("%s has no update ack example", path)
	}
	if telemetryN == 0 || statusN < 2 {
		t.Errorf("%s has %d telemetry and %d status examples; want ≥ 1 and ≥ 2 (birth and will)", path, telemetryN, statusN)
	}
	// An example of a boiler's alert and of a gateway's.
	if !alertKinds[telemetry.AlertBelowLimit] || !alertKinds[telemetry.AlertGatewaySilent] {
		t.Errorf("%s shows alerts of kinds %v; want %s and %s", path, alertKinds, telemetry.AlertBelowLimit, telemetry.AlertGatewaySilent)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		telemetry.SamplesFilter, telemetry.StatusFilter, telemetry.AlertTopic("{site}"),
		strconv.Itoa(telemetry.MaxPayload), "946684800000", "4102444800000", strconv.Itoa(telemetry.MaxAlertMessage),
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("%s does not mention %s", path, want)
		}
	}
	for _, kind := range append(slices.Clone(telemetry.BoilerAlertKinds), telemetry.GatewayAlertKinds...) {
		if !strings.Contains(string(text), "`"+kind+"`") {
			t.Errorf("%s does not describe the alert kind %s", path, kind)
		}
	}
}
