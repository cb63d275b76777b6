// Package telemetrytest checks payloads against the wire contract's JSON
// Schemas in docs/ (wire-format.schema.json, status.schema.json,
// alert.schema.json), for the tests of the packages that make or read
// them.
package telemetrytest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// DocsDir is the repository's docs/ directory.
func DocsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "docs")
}

// Doc reads docs/<file> as a JSON document (maps, slices, json.Number...).
func Doc(t testing.TB, file string) any {
	t.Helper()
	doc, err := readDoc(file)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func readDoc(file string) (any, error) {
	path := filepath.Join(DocsDir(), file)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc, nil
}

// Schema compiles the JSON Schema (draft 2020-12) docs/<file>.
func Schema(t testing.TB, file string) *jsonschema.Schema {
	t.Helper()
	s, err := Compile(file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Compile compiles the JSON Schema (draft 2020-12) docs/<file>, whose $id
// must be its address in the repository.
func Compile(file string) (*jsonschema.Schema, error) {
	doc, err := readDoc(file)
	if err != nil {
		return nil, err
	}
	url := "https://github.com/boilerwatch/boilerwatch/docs/" + file
	if m, _ := doc.(map[string]any); m == nil || m["$id"] != url {
		return nil, fmt.Errorf("%s: $id is not %q", file, url)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return s, nil
}

// Check is nil when payload is a JSON text (RFC 8259: UTF-8, one value)
// that s accepts.
func Check(s *jsonschema.Schema, payload []byte) error {
	if !utf8.Valid(payload) {
		return errors.New("not UTF-8")
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return err
	}
	return s.Validate(doc)
}
