package fwconfig_test

import (
	"testing"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
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
	p, err := profile.ParseProfile("README.md#profile", []byte(pr))
	if err != nil {
		t.Fatalf("README profile example: %v", err)
	}
	// The worked values of the README's profile example.
	o2, err := p.Point("o2").Decode([]uint16{805})
	if err != nil || o2 != (profile.Value{Kind: profile.KindNumber, Num: 8.05}) {
		t.Errorf("o2 raw 805 = %v, %v; want 8.05", o2, err)
	}
	if _, err := p.Point("o2").Decode([]uint16{0xFFFF}); err == nil {
		t.Error("o2 0xFFFF decoded as a number")
	}
	if st := p.Point("status"); st.Register != profile.Input || st.Address != 4 {
		t.Errorf("ref 30005 resolved to %s %d, want input 4", st.Register, st.Address)
	}
	if p.Groups["fast"].String() != "1s" || p.Point("o2").Group != "fast" {
		t.Errorf("groups %v", p.Groups)
	}
	ppm := p.Point("o2_ppm")
	f, err := ppm.ScaleFrom.Factor(func(string) (float64, error) { return 2, nil })
	if v, err2 := ppm.DecodeWith([]uint16{805}, f); err != nil || err2 != nil || v != (profile.Value{Kind: profile.KindNumber, Num: 80500}) {
		t.Errorf("o2_ppm raw 805 with dp 2 = %v, %v, %v; want 80500", v, err, err2)
	}
	serial, err := p.Point("serial").Decode([]uint16{0x4257, 0x2D30, 0x3031, 0})
	if err != nil || serial != (profile.Value{Kind: profile.KindString, Str: "BW-001"}) {
		t.Errorf("serial = %q, %v", serial, err)
	}
}

// The README's serial example loads: meter2 inherits its bus settings.
func TestReadmeSerialExample(t *testing.T) {
	blocks := servicetest.DocBlocks(t, "README.md", "yaml")
	serial, ok := blocks["# gateway-serial.yaml"]
	if !ok {
		t.Fatal("README has no '# gateway-serial.yaml' example")
	}
	g, err := fwconfig.ParseGateway("README.md#gateway-serial.yaml", []byte(serial))
	if err != nil {
		t.Fatalf("README serial example: %v", err)
	}
	if b := g.Devices[1].Bus; b.Transport != fwconfig.RTU || b.Baud != 9600 || b.Parity != "none" || b.UnitGap.String() != "100ms" {
		t.Errorf("meter2 did not inherit its bus settings: %+v", b)
	}
}
