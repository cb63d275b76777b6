package fwconfig

import (
	"flag"
	"fmt"
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
					d.Name, d.Profile, d.Spec.Class, len(d.Spec.Points), d.Transport, d.Address, d.UnitID, d.Interval, d.Timeout)
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
	for _, pt := range p.Points {
		fmt.Fprintf(&b, "point %s %s %d +%d %s order %d scale %g offset %g unit %q\n",
			pt.Name, pt.Register, pt.Address, pt.Words(), pt.Type, pt.order, pt.ScaleFactor(), pt.Offset, pt.Unit)
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
			if err != nil || fmt.Sprint(got) != fmt.Sprint(v) {
				t.Errorf("%s.%s: round trip of %v gave %v, %v", p.Name, pt.Name, v, got, err)
			}
		}
	}
}
