package profile

import (
	"testing"

	"github.com/boilerwatch/boilerwatch/firmware-config/internal/parsetest"
)

func FuzzParseProfile(f *testing.F) {
	parsetest.SeedFiles(f, "testdata/*/profile.yaml")
	parsetest.SeedFiles(f, "profiles/*.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProfile("fuzz.yaml", data)
		parsetest.CheckParseError(t, err)
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
