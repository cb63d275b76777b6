package fwconfig

import (
	"testing"

	"github.com/boilerwatch/boilerwatch/firmware-config/internal/parsetest"
)

func FuzzParseGateway(f *testing.F) {
	parsetest.SeedFiles(f, "testdata/gateway/*/gateway.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseGateway("fuzz.yaml", data)
		parsetest.CheckParseError(t, err)
		if err == nil && (g.Site == "" || len(g.Devices) == 0) {
			t.Fatalf("accepted a config without site or devices: %+v", g)
		}
	})
}
