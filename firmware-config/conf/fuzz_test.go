package conf

import (
	"bytes"
	"errors"
	"testing"
)

type fuzzCfg struct {
	testCfg `yaml:",inline"`
	Any     any              `yaml:"any"`
	Nested  map[string]*tree `yaml:"nested"`
	Node    *struct {
		Deeper []map[string]Duration `yaml:"deeper"`
	} `yaml:"node"`
}

// FuzzDecode: whatever the input, Decode returns a value or Errors naming
// the file with a line in range, never a panic or another error.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"site: a\nmqtt:\n  brokr: x\n", "points:\n  - {name: a, scale: 2}\n  - ~\n", "tags: &t [a, *t]\n",
		"d: &d {scale: 2}\npoints: [{<<: *d, name: x}]\n", "node: {deeper: [{a: 1s}, {b: soon}]}\n", "nested: {a: [[], []]}\n",
		"every: -1s\nmax: 1GiB\ncount: 0x10\n", "site: a\n  mqtt: x\n", "", "any: {a: [1, 2]}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c fuzzCfg
		d, err := Decode("fuzz.yaml", data, &c)
		if err == nil {
			if d == nil {
				t.Fatal("no document and no error")
			}
			d.Errorf("site", "a check after decoding")
			err = d.Err()
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error is not Errors: %T %v", err, err)
		}
		// YAML breaks lines at \n, \r and \r\n, and at NEL, LS and PS.
		lines := 1 + bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) +
			bytes.Count(data, []byte("\u0085")) + bytes.Count(data, []byte("\u2028")) + bytes.Count(data, []byte("\u2029"))
		for _, e := range es {
			if e.File != "fuzz.yaml" || e.Line < 0 || e.Line > lines+1 {
				t.Fatalf("error not located in the file (%d lines): %q", lines, e.Error())
			}
		}
	})
}
