package store_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// hostile are strings that would break out of a Flux literal, or be read
// as something else inside one, if quoted wrongly.
var hostile = []string{
	`a"b`, `back\slash`, `trailing\`, "${1 + 1}", "$${x}", `\${x}`, `") or true or ("`,
	"tab\there", "new\nline", "nul\x00byte", "bell\a", "zero\u200bwidth", "水",
}

func TestFluxString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plant-a", `"plant-a"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"${x}", `"\x24{x}"`},
		{"$${x}", `"\x24\x24{x}"`},
		{`\${x}`, `"\\\x24{x}"`},
		{"a\nb\tc\x00\x7f", `"a\x0ab\x09c\x00\x7f"`},
		{`") or true or ("`, `"\") or true or (\""`},
		{"水", `"水"`},
		{"", `""`},
	} {
		if got := store.FluxString(tc.in); got != tc.want {
			t.Errorf("FluxString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestFluxPredicates(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{store.Eq("_measurement", "boiler"), `r._measurement == "boiler"`},
		{store.Eq("site", `a"${b}`), `r.site == "a\"\x24{b}"`},
		{store.OneOf("_field"), `false`},
		{store.OneOf("_field", "direct"), `r._field == "direct"`},
		{store.OneOf("_field", "direct", "indirect"), `(r._field == "direct" or r._field == "indirect")`},
		{store.Matches("site"), `false`},
		{store.Matches("site", "a.b"), `r.site == "a.b"`},
		{store.Matches("site", "a.b", "c/d", "e\nf"), `r.site =~ /^(?:a\.b|c\/d|e\x{0a}f)$/`},
		{store.And(store.Eq("site", "s"), "", store.OneOf("kind", "a", "b")), `r.site == "s" and (r.kind == "a" or r.kind == "b")`},
		{store.And(), ``},
		{store.FluxTime(time.Date(2026, 1, 15, 8, 0, 0, 5e8, time.FixedZone("CST", 8*3600))), `2026-01-15T00:00:00.5Z`},
	} {
		if tc.got != tc.want {
			t.Errorf("got  %s\nwant %s", tc.got, tc.want)
		}
	}
	for _, col := range []string{"", "r.site", "site == \"x\" or true", "1st", "a-b"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Eq(%q, ...) accepted a column that is not an identifier", col)
				}
			}()
			store.Eq(col, "x")
		}()
	}
}

// TestFluxLiteralsInInfluxDB writes each hostile string as a tag and as a
// field value into InfluxDB 1.8 and finds exactly its point with Eq on
// either, through the Flux InfluxDB runs; and shows that Go's %q, which
// the collector's queries used before, is not Flux quoting.
func TestFluxLiteralsInInfluxDB(t *testing.T) {
	in := servicetest.StartInflux(t)
	st := store.Open(store.Config{URL: in.URL, Bucket: in.Bucket})
	t.Cleanup(st.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := st.EnsureDatabase(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	// Line protocol written here: the client's encoder would store a tab
	// or newline as a backslash sequence.
	field := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	tagEsc := strings.NewReplacer(`,`, `\,`, `=`, `\=`, ` `, `\ `)
	var lines bytes.Buffer
	tags := make([]string, len(hostile))
	for i, v := range hostile {
		// A tag value cannot hold a newline, tab or NUL, nor end in a
		// backslash.
		tags[i] = fmt.Sprintf("t%d", i)
		if !strings.ContainsAny(v, "\n\t\x00") && !strings.HasSuffix(v, `\`) {
			tags[i] = v
		}
		fmt.Fprintf(&lines, "literal_test,i=%d,k=%s s=\"%s\" %d\n", i, tagEsc.Replace(tags[i]), field.Replace(v), t0.Add(time.Duration(i)*time.Second).UnixMilli())
	}
	in.WriteLines(t, in.Bucket, lines.Bytes())
	find := func(pred string) ([]string, error) {
		res, err := st.Query(ctx, fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => %s)`,
			store.FluxString(st.Bucket()), store.FluxTime(t0), store.FluxTime(t0.Add(time.Hour)), pred))
		if err != nil {
			return nil, err
		}
		defer res.Close()
		var got []string
		for res.Next() {
			got = append(got, fmt.Sprint(res.Record().ValueByKey("i")))
		}
		return got, res.Err()
	}
	for i, v := range hostile {
		want := fmt.Sprint(i)
		preds := map[string]string{"field": store.And(store.Eq("_measurement", "literal_test"), store.Eq("_value", v))}
		if tags[i] == v {
			preds["tag"] = store.And(store.Eq("_measurement", "literal_test"), store.Eq("k", v))
			preds["tag, one of"] = store.And(store.Eq("_measurement", "literal_test"), store.Matches("k", v, "none/such"))
		}
		for what, pred := range preds {
			got, err := find(pred)
			if err != nil || len(got) != 1 || got[0] != want {
				t.Errorf("%s %q: query %s found points %v, %v; want [%s]", what, v, pred, got, err, want)
			}
		}
	}
	// Go's quoting: Flux interpolates the "${1 + 1}" %q leaves alone, and
	// does not read the \a or \u200b escapes %q writes.
	for _, v := range []string{"${1 + 1}", "bell\a", "zero\u200bwidth"} {
		got, err := find(fmt.Sprintf(`r._measurement == "literal_test" and r._value == %q`, v))
		if err == nil && len(got) == 1 {
			t.Errorf("%q: Go's %%q found it in Flux; the reason for FluxString is gone", v)
		}
	}
}
