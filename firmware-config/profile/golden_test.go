package profile

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/firmware-config/internal/parsetest"
)

// Each testdata/<case>/ holds profile.yaml and expected.txt or error.txt.
func TestProfileGolden(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/*")
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			file := filepath.Join(dir, "profile.yaml")
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ParseProfile(file, data)
			if err != nil {
				parsetest.Golden(t, filepath.Join(dir, "error.txt"), err.Error()+"\n")
				return
			}
			parsetest.Golden(t, filepath.Join(dir, "expected.txt"), describeProfile(p))
		})
	}
}

func describeProfile(p *Profile) string {
	var b strings.Builder
	fmt.Fprintf(&b, "profile %s class %s measurement %s\n", p.Name, p.Class, p.MeasurementName())
	for _, g := range slices.Sorted(maps.Keys(p.Groups)) {
		fmt.Fprintf(&b, "group %s every %s\n", g, p.Groups[g].Duration)
	}
	for _, pt := range p.Points {
		fmt.Fprintf(&b, "point %s %s %d +%d %s order %d scale %g offset %g unit %q",
			pt.Name, pt.Register, pt.Address, pt.Words(), pt.Type, pt.order, pt.ScaleFactor(), pt.Offset, pt.Unit)
		for _, sf := range pt.ScaleFrom {
			fmt.Fprintf(&b, " scale_from %s %s", sf.Point, sf.Map)
		}
		if pt.Group != "" {
			fmt.Fprintf(&b, " group %s", pt.Group)
		}
		if pt.Modulus != nil {
			fmt.Fprintf(&b, " counter modulus %g", *pt.Modulus)
		}
		if len(pt.Range) == 2 {
			fmt.Fprintf(&b, " range %g..%g", pt.Range[0], pt.Range[1])
		}
		b.WriteString("\n")
	}
	for _, h := range p.Holes {
		fmt.Fprintf(&b, "hole %s %d..%d\n", h.Register, h.From, h.End()-1)
	}
	if p.Identify != nil {
		for _, m := range p.Identify.Match {
			fmt.Fprintf(&b, "identify %s %s %d +%d %s order %s = %s\n",
				m.Spec.Name, m.Spec.Register, m.Spec.Address, m.Spec.Words(), m.Spec.Type, m.Spec.ByteOrderName(), m.Expected())
		}
		for _, rp := range p.RangePoints() {
			fmt.Fprintf(&b, "identify range %s\n", rp.Name)
		}
	}
	return b.String()
}

// The built-in library must load, and every profile must round-trip a value
// through Encode and Decode at each point.
func TestBuiltinLibrary(t *testing.T) {
	lib, err := LoadLibrary()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"chint-dtsu666", "szl-chain-grate-plc"} {
		if lib[name] == nil {
			t.Errorf("built-in profile %s missing", name)
		}
	}
	for _, p := range lib {
		for i := range p.Points {
			pt := &p.Points[i]
			var v any = 12.0
			switch pt.Type {
			case Bool:
				v = true
			case String:
				v = "BW"
			}
			regs, err := pt.Encode(v)
			if err != nil {
				t.Errorf("%s.%s: Encode: %v", p.Name, pt.Name, err)
				continue
			}
			got, err := pt.Decode(regs)
			// A value comes back to within half a raw step (12 GJ in Wh
			// steps of 3.6e-6 GJ is 11.9999988).
			if f, ok := got.Any().(float64); ok && err == nil {
				if math.Abs(f-12) > math.Abs(pt.ScaleFactor())/2+1e-9 {
					t.Errorf("%s.%s: round trip of 12 gave %v", p.Name, pt.Name, f)
				}
				continue
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(v) {
				t.Errorf("%s.%s: round trip of %v gave %v, %v", p.Name, pt.Name, v, got, err)
			}
		}
	}
}
