package conf

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type testPoint struct {
	Name  string   `yaml:"name"`
	Scale *float64 `yaml:"scale"`
}

type testCfg struct {
	Site   string            `yaml:"site"`
	Every  Duration          `yaml:"every"`
	Max    ByteSize          `yaml:"max"`
	Count  int               `yaml:"count"`
	On     bool              `yaml:"on"`
	Tags   []string          `yaml:"tags"`
	Groups map[string]string `yaml:"groups"`
	MQTT   struct {
		Broker    string   `yaml:"broker"`
		KeepAlive Duration `yaml:"keepalive"`
	} `yaml:"mqtt"`
	Points []testPoint `yaml:"points"`
	Lower  int         // no tag: yaml.v3's name, "lower"
	Hidden string      `yaml:"-"`
}

// TestDecodeErrors: every problem is found in one pass, at its own line and
// field path, in file order.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"nested unknown key", "site: a\nmqtt:\n  brokr: x\n",
			[]string{`f.yaml:3: mqtt.brokr: unknown field "brokr" (check its spelling and indentation; known: broker, keepalive)`}},
		{"unknown key in a flow mapping", "mqtt: {broker: x, port: 1}\n",
			[]string{`f.yaml:1: mqtt.port: unknown field "port"`}},
		{"unknown key in a sequence", "points:\n  - name: a\n  - name: b\n    scael: 2\n",
			[]string{`f.yaml:4: points[1].scael: unknown field "scael" (check its spelling and indentation; known: name, scale)`}},
		{"wrong kind: list for mapping", "mqtt:\n  - broker: x\n",
			[]string{"f.yaml:1: mqtt: want a mapping (key: value), found a list"}},
		{"wrong kind: value for list", "tags: abc\n",
			[]string{"f.yaml:1: tags: want a list, found a single value `abc`"}},
		{"wrong kind: mapping for value", "site: {a: 1}\n",
			[]string{"f.yaml:1: site: want a single value, found a mapping (key: value)"}},
		{"bad scalar", "count: one\n", []string{"f.yaml:1: count: `one` is not a valid int"}},
		{"bad scalar in a sequence", "points:\n  - {name: a, scale: x2}\n", []string{"f.yaml:2: points[0].scale: `x2` is not a valid float64"}},
		{"duration", "mqtt:\n  keepalive: every second\n", []string{`f.yaml:2: mqtt.keepalive: "every second" is not a duration (write e.g. 1s, 500ms, 1m)`}},
		{"negative duration", "every: -5s\n", []string{`f.yaml:1: every: "-5s" is negative`}},
		{"duration of the wrong kind", "every: [1s]\n", []string{"f.yaml:1: every: want a duration (write e.g. 1s, 500ms, 1m), found a list"}},
		{"byte size", "max: lots\n", []string{`f.yaml:1: max: "lots" is not a size (write e.g. 500MB, 2GiB or a number of bytes)`}},
		{"duplicate key", "site: a\nsite: b\n", []string{"f.yaml:2: site: written twice (first at line 1)"}},
		{"all of them, in file order", "count: x\nmqtt:\n  keepalive: soon\n  nope: 1\npoints:\n  - {name: a, scale: y}\nsite: [a]\n",
			[]string{"f.yaml:1: count: `x` is not a valid int", `f.yaml:3: mqtt.keepalive: "soon" is not a duration`,
				`f.yaml:4: mqtt.nope: unknown field "nope"`, "f.yaml:6: points[0].scale: `y` is not a valid float64",
				"f.yaml:7: site: want a single value, found a list"}},
		{"syntax", "site: a\n  mqtt: x\n", []string{"f.yaml:2: mapping values are not allowed in this context"}},
		{"empty", "", []string{"f.yaml: file is empty"}},
		{"field with a - tag", "hidden: x\n", []string{`unknown field "hidden"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c testCfg
			err := load("f.yaml", tc.yaml, &c)
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T %v, want Errors", err, err)
			}
			if len(es) != len(tc.want) {
				t.Fatalf("%d errors, want %d:\n%v", len(es), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.Contains(es[i].Error(), w) {
					t.Errorf("error %d:\n%s\nwant it to contain:\n%s", i, es[i], w)
				}
			}
		})
	}
}

type tree []tree

// TestAliasBudget: a "billion laughs" document (ten levels of ten aliases)
// stops at the alias budget, with one error; an alias inside its own
// anchor is an error, not a loop.
func TestAliasBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("anchors:\n  - &a0 [" + strings.Repeat("[], ", 9) + "[]]\n")
	for i := 1; i < 10; i++ {
		p := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "  - &a%d [%s%s]\n", i, strings.Repeat(p+", ", 9), p)
	}
	b.WriteString("tags: *a9\n")
	var c struct {
		Anchors []tree `yaml:"anchors"`
		Tags    tree   `yaml:"tags"`
	}
	err := load("f.yaml", b.String(), &c)
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || !strings.Contains(es[0].Msg, "aliases expanded; write the values out") {
		t.Fatalf("error %v, want one about the alias budget", err)
	}
	err = load("f.yaml", "tags: &t [[], *t]\n", &c)
	if err == nil || err.Error() != "f.yaml:1: tags[1][1]: alias *t is used inside its own anchor" {
		t.Errorf("alias inside its anchor: %v", err)
	}
}

// TestDecodeValues: what decodes, decodes as yaml.v3 would.
func TestDecodeValues(t *testing.T) {
	doc := `site: plant-a
every: 0s
max: 2MiB
count: 0x10
on: true
tags: []
groups: {fast: 1s}
mqtt: {broker: "tcp://b:1", keepalive: 30s}
defaults: &d {scale: 2}
points:
  - name: a
    <<: *d
  - {name: b, scale: 3, <<: *d}
  - ~
lower: 7
`
	type cfg struct {
		testCfg  `yaml:",inline"`
		Defaults map[string]float64 `yaml:"defaults"`
	}
	var c cfg
	d, err := Decode("f.yaml", []byte(doc), &c)
	if err == nil {
		err = d.Err()
	}
	if err != nil {
		t.Fatal(err)
	}
	if c.Site != "plant-a" || !c.Every.IsSet() || c.Every.Duration != 0 || c.Max.Bytes != 2<<20 || !c.Max.IsSet() || c.Count != 16 || !c.On || c.Lower != 7 {
		t.Errorf("scalars: %+v", c.testCfg)
	}
	if c.Tags == nil || len(c.Tags) != 0 || c.Groups["fast"] != "1s" || c.MQTT.KeepAlive.Duration != 30*time.Second {
		t.Errorf("collections: tags %#v groups %v mqtt %+v", c.Tags, c.Groups, c.MQTT)
	}
	if len(c.Points) != 3 || *c.Points[0].Scale != 2 || *c.Points[1].Scale != 3 || c.Points[2].Name != "" {
		t.Errorf("points (merge keys, explicit keys win, null entry): %+v", c.Points)
	}
	for path, line := range map[string]int{"site": 1, "mqtt.keepalive": 8, "points[1]": 13, "points[1].scale": 13, "points[0].name": 11, "points[0].nope": 11, "nope.deeper": 1} {
		if got := d.Line(path); got != line {
			t.Errorf("Line(%s) = %d, want %d", path, got, line)
		}
	}
	if raw, ok := d.Raw("count"); !ok || raw != "0x10" {
		t.Errorf("Raw(count) = %q %v", raw, ok)
	}
	if !d.Has("tags") || d.Has("points[0].scale") {
		t.Error("Has: tags is written, points[0].scale only merged")
	}
	var unset testCfg
	if err := load("f.yaml", "site: x\n", &unset); err != nil {
		t.Fatal(err)
	}
	unset.Every.Default(time.Minute)
	unset.Max.Default(5)
	if unset.Every.IsSet() || unset.Every.Duration != time.Minute || unset.Max.Bytes != 5 {
		t.Errorf("defaults: %+v %+v", unset.Every, unset.Max)
	}
}

// load decodes as a parser does: Decode, then every problem recorded.
func load(file, data string, out any) error {
	d, err := Decode(file, []byte(data), out)
	if err != nil {
		return err
	}
	return d.Err()
}

// TestChecksAfterBadValues: a value that did not decode leaves its field
// zero; checks still run on the rest, and one on that field is dropped.
func TestChecksAfterBadValues(t *testing.T) {
	var c testCfg
	d, err := Decode("f.yaml", []byte("count: one\nsite: ''\nmqtt: [x]\n"), &c)
	if err != nil {
		t.Fatal(err)
	}
	d.Errorf("count", "must be positive")       // dropped: count did not decode
	d.Errorf("mqtt.broker", "missing")          // dropped: mqtt did not decode
	d.Errorf("site", "missing; write the site") // kept
	want := "f.yaml:1: count: `one` is not a valid int\nf.yaml:2: site: missing; write the site\nf.yaml:3: mqtt: want a mapping (key: value), found a list"
	if got := d.Err().Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestErrorf: checks after decoding report at the field, or at its nearest
// written parent, in line order.
func TestErrorf(t *testing.T) {
	var c testCfg
	d, err := Decode("f.yaml", []byte("site: a\nmqtt:\n  broker: x\npoints:\n  - name: p\n"), &c)
	if err != nil {
		t.Fatal(err)
	}
	d.Errorf("points[0].scale", "missing")
	d.Errorf("mqtt.broker", "bad")
	d.Errorf("queue.dir", "missing")
	want := "f.yaml:1: queue.dir: missing\nf.yaml:3: mqtt.broker: bad\nf.yaml:5: points[0].scale: missing"
	if got := d.Err().Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1000", 1000, true}, {"500MB", 500e6, true}, {"2GiB", 2 << 30, true}, {"1.5 kB", 1500, true},
		{"lots", 0, false}, {"-1", 0, false}, {"5 parsecs", 0, false}, {"", 0, false}, {"99999999TB", 0, false},
	} {
		got, err := ParseByteSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1m30s")); err != nil || d.Duration != 90*time.Second || !d.IsSet() {
		t.Fatalf("%v %v", d, err)
	}
	if b, _ := d.MarshalText(); string(b) != "1m30s" {
		t.Errorf("MarshalText %s", b)
	}
	var empty Duration
	if err := empty.UnmarshalText(nil); err != nil || empty.IsSet() {
		t.Errorf("\"\" is unset, not an error: %v %v", empty, err)
	}
	if D(time.Second) != (Duration{Duration: time.Second, set: true}) {
		t.Error("D is not a set duration")
	}
}
