package fwconfig_test

import (
	"testing"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
)

// The README's gateway config and profile examples must load as written.
func TestReadmeExamples(t *testing.T) {
	blocks := servicetest.DocBlocks(t, "README.md", "yaml")
	gw, ok := blocks["# gateway.yaml"]
	if !ok {
		t.Fatal("README has no '# gateway.yaml' example")
	}
	g, err := fwconfig.ParseGateway("README.md#gateway.yaml", []byte(gw))
	if err != nil {
		t.Fatalf("README gateway example: %v", err)
	}
	if len(g.Devices) != 2 || g.Devices[1].Spec.Name != "chint-dtsu666" {
		t.Errorf("README gateway example resolved to %+v", g.Devices)
	}
	pr, ok := blocks["# profile: example-o2-analyzer.yaml"]
	if !ok {
		t.Fatal("README has no profile example")
	}
	p, err := fwconfig.ParseProfile("README.md#profile", []byte(pr))
	if err != nil {
		t.Fatalf("README profile example: %v", err)
	}
	// The worked values of the README's profile example.
	o2, err := p.Point("o2").Decode([]uint16{805})
	if err != nil || o2 != 8.05 {
		t.Errorf("o2 raw 805 = %v, %v; want 8.05", o2, err)
	}
	if _, err := p.Point("o2").Decode([]uint16{0xFFFF}); err == nil {
		t.Error("o2 0xFFFF decoded as a number")
	}
	serial, err := p.Point("serial").Decode([]uint16{0x4257, 0x2D30, 0x3031, 0})
	if err != nil || serial != "BW-001" {
		t.Errorf("serial = %q, %v", serial, err)
	}
}
