package telemetry_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// reflectValue is Value as encoding/json would write it from a struct
// with an interface field: the reference the hand-written form must match.
type reflectValue struct {
	V     any               `json:"v,omitempty"`
	Q     telemetry.Quality `json:"q"`
	Err   string            `json:"err,omitempty"`
	Reset bool              `json:"reset,omitempty"`
}

func reflectJSON(t *testing.T, v telemetry.Value) []byte {
	t.Helper()
	b, err := json.Marshal(reflectValue{V: v.Any(), Q: v.Q, Err: v.Err, Reset: v.Reset})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkEncoding: the Encoder writes what json.Marshal writes, every value
// as encoding/json writes its reflection twin, and the result decodes to
// the message.
func checkEncoding(t *testing.T, m *telemetry.Message) {
	t.Helper()
	var e telemetry.Encoder
	got := e.Encode(m)
	want, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Encoder:\n%s\njson.Marshal:\n%s", got, want)
	}
	for _, s := range m.Samples {
		for name, v := range s.Values {
			if got, want := mustMarshal(t, v), reflectJSON(t, v); !bytes.Equal(got, want) {
				t.Fatalf("value %s: %s, encoding/json writes %s", name, got, want)
			}
		}
	}
	// A second message through the same encoder starts clean.
	if again := e.Encode(m); !bytes.Equal(again, want) {
		t.Fatalf("second Encode differs:\n%s", again)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncoderMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for name, m := range goMessages() {
		t.Run(name, func(t *testing.T) {
			checkEncoding(t, m)
			back, err := telemetry.Decode((&telemetry.Encoder{}).Encode(m))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, m) {
				t.Errorf("decoded\n%#v\nwant\n%#v", back, m)
			}
		})
	}
	// What devices and error texts can hold, and numbers at the edges of
	// encoding/json's two notations.
	hostile := map[string]telemetry.Value{
		"ctrl":   telemetry.Text("a\x00b\x01\x1f\b\f\n\r\t\x7fz"),
		"quote":  telemetry.Text(`"\ '`),
		"html":   telemetry.Text("<script>&amp;</script>"),
		"badutf": telemetry.Text("ok\xff\xfe\xc3("),
		"lsep":   telemetry.Text("a\u2028b\u2029c"),
		"cjk":    telemetry.Text("锅炉 1 号"),
		"err":    {Q: telemetry.Bad, Err: "modbus: \"x\"\n\xff"},
		"small":  telemetry.Number(1e-7),
		"edge":   telemetry.Number(1e-6),
		"big":    telemetry.Number(1e21),
		"below":  telemetry.Number(999999999999999999999),
		"negexp": telemetry.Number(-1.5e-300),
		"negz":   telemetry.Number(math.Copysign(0, -1)),
		"int":    telemetry.Number(123456789),
		"max":    telemetry.Number(math.MaxFloat64),
		"reset":  {Kind: telemetry.KindNumber, Num: 1, Q: telemetry.Good, Reset: true},
	}
	checkEncoding(t, &telemetry.Message{V: 1, Site: "s<", Gateway: "g", Boot: "b\n", Samples: []telemetry.Sample{{Device: "d", Values: hostile}}})
	checkEncoding(t, &telemetry.Message{V: 1})
}

// A number without a JSON form goes out as a bad value, never as invalid
// JSON or a lost message.
func TestEncoderNonFinite(t *testing.T) {
	t.Parallel()
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		m := &telemetry.Message{V: 1, Samples: []telemetry.Sample{{Values: map[string]telemetry.Value{"x": telemetry.Number(f)}}}}
		got := (&telemetry.Encoder{}).Encode(m)
		if !json.Valid(got) || !bytes.Contains(got, []byte(`"x":{"q":"bad","err":"value is not finite"}`)) {
			t.Errorf("%v: %s", f, got)
		}
	}
}

// Encoding a poll's message reuses the encoder's buffers: nothing is
// allocated once they have grown.
func TestEncoderAllocations(t *testing.T) {
	m := goMessages()["full"]
	var e telemetry.Encoder
	e.Encode(m)
	if n := testing.AllocsPerRun(100, func() { e.Encode(m) }); n != 0 {
		t.Errorf("%v allocations per Encode, want 0", n)
	}
}

func BenchmarkEncode(b *testing.B) {
	m := goMessages()["full"]
	b.Run("Encoder", func(b *testing.B) {
		var e telemetry.Encoder
		b.ReportAllocs()
		for b.Loop() {
			e.Encode(m)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(m)
		}
	})
}

// BenchmarkDecode: the edge cases of goMessages' full message (numbers
// that strconv parses the slow way, escapes), and a meter's poll of 20
// numbers, the collector's drain benchmark's message; each through Decode
// and through the encoding/json parser it tried first before.
func BenchmarkDecode(b *testing.B) {
	meter := &telemetry.Message{V: 1, Site: "bench", Gateway: "gw-07", Seq: 1234, Boot: "b00700000000000a",
		Samples: []telemetry.Sample{{Device: "dev", Profile: "bench-profile", Class: "bench", TS: 1767225600000, Values: map[string]telemetry.Value{}}}}
	for v := range 20 {
		meter.Samples[0].Values[fmt.Sprintf("p%02d", v)] = telemetry.Number(234 + float64(v)/100)
	}
	for _, c := range []struct {
		name string
		m    *telemetry.Message
	}{{"full", goMessages()["full"]}, {"meter", meter}} {
		payload, err := json.Marshal(c.m)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/Decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := telemetry.Decode(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := telemetry.DecodeWellFormed(payload); !ok {
					b.Fatal("not decoded")
				}
			}
		})
	}
}
