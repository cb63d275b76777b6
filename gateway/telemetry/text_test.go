package telemetry_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

func TestReservedField(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name            string
		reserved, point bool // ReservedField, ValidPointName
	}{
		{telemetry.FieldTime, true, false},
		{telemetry.FieldSeq, true, false},
		{telemetry.FieldBad, true, false},
		{"_anything", true, false},
		{"Time", false, true},
		{"TIME", false, true},
		{"time_1", false, true},
		{"uptime", false, true},
		{"steam_flow", false, true},
		{"", false, false},
		{"a b", false, false},
	} {
		if got := telemetry.ReservedField(c.name); got != c.reserved {
			t.Errorf("ReservedField(%q) = %v, want %v", c.name, got, c.reserved)
		}
		if got := telemetry.ValidPointName(c.name); got != c.point {
			t.Errorf("ValidPointName(%q) = %v, want %v", c.name, got, c.point)
		}
	}
}

func TestCleanText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain", "modbus: exception '2' (illegal data address)", 200, "modbus: exception '2' (illegal data address)"},
		{"newlines and tabs become spaces", "read tcp: i/o timeout\nretrying\r\n\tagain", 200, "read tcp: i/o timeout retrying   again"},
		{"NUL, ESC and DEL are escaped", "a\x00b\x1b[31mc\x7f", 200, `a\u0000b\u001B[31mc\u007F`},
		{"bidi override is escaped", "ok \u202edaolrevo", 200, `ok \u202Edaolrevo`},
		{"zero-width space and BOM", "a\u200bb\ufeff", 200, `a\u200Bb\uFEFF`},
		{"line separator", "a\u2028b", 200, `a\u2028b`},
		{"C1 control", "a\u0085b", 200, `a\u0085b`},
		{"invalid UTF-8 becomes U+FFFD", "a\xff\xfeb", 200, "a\ufffd\ufffdb"},
		{"non-ASCII kept", "超时 ü", 200, "超时 ü"},
		{"cut at max bytes", strings.Repeat("x", 300), 200, strings.Repeat("x", 200)},
		{"cut on a character boundary", strings.Repeat("锅", 70), 200, strings.Repeat("锅", 66)},
		{"an escape is not cut in half", strings.Repeat("x", 196) + "\x00", 200, strings.Repeat("x", 196)},
		{"empty", "", 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := telemetry.CleanText(c.in, c.max)
			if got != c.want {
				t.Errorf("CleanText(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
			}
			if err := telemetry.CheckText(got); err != nil {
				t.Errorf("CheckText(CleanText(%q)) = %v", c.in, err)
			}
		})
	}
}

// FuzzCleanText: whatever the gateway's error text, CleanText makes an err
// the collector accepts.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"", "timeout", "a\nb", "\u202e", "\xff", strings.Repeat("锅", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := telemetry.CleanText(s, 200)
		if len(got) > 200 || !utf8.ValidString(got) {
			t.Fatalf("CleanText(%q) = %q: %d bytes, valid UTF-8 %v", s, got, len(got), utf8.ValidString(got))
		}
		if err := telemetry.CheckText(got); err != nil {
			t.Fatalf("CleanText(%q) = %q: %v", s, got, err)
		}
		m := baseMessage()
		m.Samples[0].Values["o2"] = telemetry.BadValue(got)
		var e telemetry.Encoder
		if _, err := telemetry.Decode(e.Encode(m)); err != nil {
			t.Fatalf("err %q from CleanText(%q) refused: %v", got, s, err)
		}
	})
}
