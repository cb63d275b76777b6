package profile_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

// profileSchema compiles profile.schema.json, which editors use to complete
// and check profiles (the shipped profiles name it in a yaml-language-server
// modeline).
func profileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("profile.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	const url = "https://github.com/boilerwatch/boilerwatch/firmware-config/profile/profile.schema.json"
	if id, _ := doc.(map[string]any)["$id"].(string); id != url {
		t.Fatalf("$id %q, want %q", id, url)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// schemaCheck validates a YAML profile against the schema, as an editor's
// YAML language server does (YAML to JSON, then the schema).
func schemaCheck(s *jsonschema.Schema, data []byte) error {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return err
	}
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return err
	}
	return s.Validate(doc)
}

// Every shipped profile, the README's example and every valid golden
// profile pass the schema; the loader agrees they are valid.
func TestProfileSchemaAcceptsValidProfiles(t *testing.T) {
	s := profileSchema(t)
	files := map[string][]byte{}
	shipped, _ := filepath.Glob("profiles/*.yaml")
	if len(shipped) < 8 {
		t.Fatalf("%d shipped profiles, want at least 8", len(shipped))
	}
	for _, f := range shipped {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte("# yaml-language-server: $schema=../profile.schema.json\n")) {
			t.Errorf("%s: first line should name the schema for editors", f)
		}
		files[f] = data
	}
	golden, _ := filepath.Glob("testdata/*/expected.txt")
	for _, g := range golden {
		f := filepath.Join(filepath.Dir(g), "profile.yaml")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		files[f] = data
	}
	blocks := servicetest.DocBlocks(t, "README.md", "yaml")
	files["README.md#profile"] = []byte(blocks["# profile: example-o2-analyzer.yaml"])
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			if _, err := profile.ParseProfile(name, data); err != nil {
				t.Fatalf("loader: %v", err)
			}
			if err := schemaCheck(s, data); err != nil {
				t.Errorf("schema: %v", err)
			}
		})
	}
}

// The schema catches, while the file is edited, what the loader would
// refuse at load.
func TestProfileSchemaRejects(t *testing.T) {
	s := profileSchema(t)
	const head = "name: t\nclass: plc\nsource: test\npoints:\n  - "
	tests := []struct {
		name, profile string
	}{
		{"unknown field", head + "{name: a, register: holding, address: 0, type: uint16, scael: 2}"},
		{"unknown type", head + "{name: a, register: holding, address: 0, type: float16}"},
		{"unknown byte order", head + "{name: a, register: holding, address: 0, type: uint32, byte_order: ADBC}"},
		{"address out of range", head + "{name: a, register: holding, address: 65536, type: uint16}"},
		{"no address", head + "{name: a, register: holding, type: uint16}"},
		{"bool without bit", head + "{name: a, register: input, address: 0, type: bool}"},
		{"string without length", head + "{name: a, register: input, address: 0, type: string}"},
		{"coil that is not bool", head + "{name: a, register: coil, address: 0, type: uint16}"},
		{"bad scale map", head + "{name: a, register: holding, address: 0, type: uint16, scale_from: {point: b, map: log}}"},
		{"zero scale", head + "{name: a, register: holding, address: 0, type: uint16, scale: 0}"},
		{"bad ref", head + "{name: a, ref: 20001, type: uint16}"},
		{"modulus on a non-counter", head + "{name: a, register: holding, address: 0, type: uint32, modulus: 100000}"},
		{"modulus on counter: false", head + "{name: a, register: holding, address: 0, type: uint32, counter: false, modulus: 100000}"},
		{"zero modulus", head + "{name: a, register: holding, address: 0, type: uint32, counter: true, modulus: 0}"},
		{"negative modulus", head + "{name: a, register: holding, address: 0, type: uint32, counter: true, modulus: -1}"},
		{"bad group interval", "name: t\nclass: plc\nsource: test\ngroups: {fast: quickly}\npoints:\n  - {name: a, register: holding, address: 0, type: uint16}"},
		{"missing source", "name: t\nclass: plc\npoints:\n  - {name: a, register: holding, address: 0, type: uint16}"},
		{"hole without from", head + "{name: a, register: holding, address: 0, type: uint16}\nholes: [{register: holding, to: 5}]"},
		{"hole in an unknown table", head + "{name: a, register: holding, address: 0, type: uint16}\nholes: [{register: holdings, from: 5}]"},
		{"hole past 65535", head + "{name: a, register: holding, address: 0, type: uint16}\nholes: [{register: holding, from: 65536}]"},
		{"range of one number", head + "{name: a, register: holding, address: 0, type: uint16, range: [50]}"},
		{"range of text", head + "{name: a, register: holding, address: 0, type: uint16, range: [low, high]}"},
		{"identify match without values", head + "{name: a, register: holding, address: 0, type: uint16}\nidentify: {match: [{register: holding, address: 9, type: uint16}]}"},
		{"identify match with point and register", head + "{name: a, register: holding, address: 0, type: uint16}\nidentify: {match: [{point: a, register: holding, values: [1]}]}"},
		{"identify unknown field", head + "{name: a, register: holding, address: 0, type: uint16}\nidentify: {model: 5}"},
		{"empty identify", head + "{name: a, register: holding, address: 0, type: uint16}\nidentify: {}"},
		{"generic without measurement", "name: t\nclass: generic\nsource: test\npoints:\n  - {name: a, register: holding, address: 0, type: uint16}"},
		{"measurement on a listed class", "name: t\nclass: plc\nmeasurement: chiller\nsource: test\npoints:\n  - {name: a, register: holding, address: 0, type: uint16}"},
		{"generic measurement that is a class", "name: t\nclass: generic\nmeasurement: boiler\nsource: test\npoints:\n  - {name: a, register: holding, address: 0, type: uint16}"},
		{"unknown class", "name: t\nclass: toaster\nsource: test\npoints:\n  - {name: a, register: holding, address: 0, type: uint16}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := schemaCheck(s, []byte(tt.profile)); err == nil {
				t.Errorf("schema accepted:\n%s", tt.profile)
			}
			if _, err := profile.ParseProfile("t.yaml", []byte(tt.profile)); err == nil {
				t.Errorf("loader accepted:\n%s", tt.profile)
			}
		})
	}
}
