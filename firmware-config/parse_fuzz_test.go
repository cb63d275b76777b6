package fwconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedFiles adds every golden config or profile as a fuzz seed.
func seedFiles(f *testing.F, pattern string) {
	files, _ := filepath.Glob(pattern)
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
}

// checkParseError: whatever the input, a parser returns a value or
// FieldErrors naming the file, never a panic or an anonymous error.
func checkParseError(t *testing.T, err error) {
	if err == nil {
		return
	}
	var fe FieldErrors
	if !errors.As(err, &fe) || len(fe) == 0 {
		t.Fatalf("error is not FieldErrors: %T %v", err, err)
	}
	for _, e := range fe {
		if e.File != "fuzz.yaml" || !strings.HasPrefix(e.Error(), "fuzz.yaml") {
			t.Fatalf("error does not name the file: %q", e.Error())
		}
	}
}

func FuzzParseGateway(f *testing.F) {
	seedFiles(f, "testdata/gateway/*/gateway.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseGateway("fuzz.yaml", data)
		checkParseError(t, err)
		if err == nil && (g.Site == "" || len(g.Devices) == 0) {
			t.Fatalf("accepted a config without site or devices: %+v", g)
		}
	})
}

func FuzzParseProfile(f *testing.F) {
	seedFiles(f, "testdata/profile/*/profile.yaml")
	seedFiles(f, "profiles/*.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProfile("fuzz.yaml", data)
		checkParseError(t, err)
		if err != nil {
			return
		}
		// An accepted profile must be usable: every point encodes and decodes.
		for i := range p.Points {
			pt := &p.Points[i]
			if pt.Words() < 1 || pt.Address+pt.Words() > 65536 {
				t.Fatalf("accepted point %s spanning %d words at %d", pt.Name, pt.Words(), pt.Address)
			}
			// Decoding any register content must not panic; an error
			// (sentinel, bad BCD) is a legal outcome.
			pt.Decode(make([]uint16, pt.Words()))
		}
	})
}
