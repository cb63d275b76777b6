package fwconfig

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with dir/name, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// Each testdata/gateway/<case>/ holds gateway.yaml and either expected.txt
// (the resolved config) or error.txt (the exact message a user sees).
func TestGatewayGolden(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/gateway/*")
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			g, err := LoadGateway(filepath.Join(dir, "gateway.yaml"))
			if err != nil {
				golden(t, filepath.Join(dir, "error.txt"), err.Error()+"\n")
				return
			}
			var b strings.Builder
			fmt.Fprintf(&b, "version %d site %s gateway %s broker %s client %s keepalive %s queue %s\n",
				g.Version, g.Site, g.Gateway, g.MQTT.Broker, g.MQTT.ClientID, g.MQTT.KeepAlive, g.Queue.Dir)
			for _, d := range g.Devices {
				fmt.Fprintf(&b, "device %s profile %s (%s, %d points) %s %s unit %d every %s timeout %s\n",
					d.Name, d.Profile, d.Spec.Class, len(d.Spec.Points), d.Transport, d.Bus.Address, d.UnitID, d.Interval, d.Timeout)
				bus := d.Bus
				fmt.Fprintf(&b, "  bus %s", bus.Key)
				if bus.Transport == RTU {
					fmt.Fprintf(&b, " %d baud parity %s %d data bits %d stop bits", bus.Baud, bus.Parity, bus.DataBits, bus.StopBits)
				}
				fmt.Fprintf(&b, " request_gap %s unit_gap %s connect_pause %s\n", bus.RequestGap, bus.UnitGap, bus.ConnectPause)
				fmt.Fprintf(&b, "  plan max_registers %d max_bits %d max_gap %d; offline backoff up to %s\n",
					d.MaxRegisters, d.MaxBits, d.MaxGapOrDefault(), d.OfflineBackoff)
				for _, gr := range d.Groups {
					var names []string
					for _, p := range gr.Points {
						names = append(names, p.Name)
					}
					fmt.Fprintf(&b, "  group %q every %s: %s\n", gr.Name, gr.Interval, strings.Join(names, " "))
				}
			}
			golden(t, filepath.Join(dir, "expected.txt"), b.String())
		})
	}
}

// Each testdata/profile/<case>/ holds profile.yaml and expected.txt or error.txt.
func TestProfileGolden(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/profile/*")
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
				golden(t, filepath.Join(dir, "error.txt"), err.Error()+"\n")
				return
			}
			golden(t, filepath.Join(dir, "expected.txt"), describeProfile(p))
		})
	}
}

func describeProfile(p *Profile) string {
	var b strings.Builder
	fmt.Fprintf(&b, "profile %s class %s\n", p.Name, p.Class)
	for _, g := range sortedKeys(p.GroupIntervals) {
		fmt.Fprintf(&b, "group %s every %s\n", g, p.GroupIntervals[g])
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
