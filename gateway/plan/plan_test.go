package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

func TestBuild(t *testing.T) {
	t.Parallel()
	pt := func(name string, reg profile.RegisterType, addr int, typ profile.DataType) profile.Point {
		return profile.Point{Name: name, Register: reg, Address: addr, Type: typ}
	}
	tests := []struct {
		name   string
		points []profile.Point
		opts   Options
		want   string
	}{
		{"contiguous merge", []profile.Point{pt("a", "holding", 0, "uint16"), pt("b", "holding", 1, "float32")}, Options{},
			"holding 0+3 [a b]"},
		{"gap bridged", []profile.Point{pt("a", "holding", 0, "uint16"), pt("b", "holding", 10, "uint16")}, Options{MaxGap: 10},
			"holding 0+11 [a b]"},
		{"gap too wide", []profile.Point{pt("a", "holding", 0, "uint16"), pt("b", "holding", 10, "uint16")}, Options{MaxGap: 8},
			"holding 0+1 [a]; holding 10+1 [b]"},
		{"types never mixed", []profile.Point{pt("a", "holding", 0, "uint16"), pt("b", "input", 1, "uint16"), pt("c", "coil", 0, "bool")}, Options{MaxGap: 50},
			"coil 0+1 [c]; holding 0+1 [a]; input 1+1 [b]"},
		{"register limit", []profile.Point{pt("a", "holding", 0, "uint16"), pt("b", "holding", 124, "float32")}, Options{MaxGap: 200},
			"holding 0+1 [a]; holding 124+2 [b]"},
		{"lowered limit", []profile.Point{pt("a", "input", 0, "uint16"), pt("b", "input", 1, "uint16"), pt("c", "input", 2, "uint16")}, Options{MaxRegisters: 2},
			"input 0+2 [a b]; input 2+1 [c]"},
		{"bits of one register share it", []profile.Point{pt("x", "input", 5, "bool"), pt("y", "input", 5, "bool")}, Options{},
			"input 5+1 [x y]"},
		{"unsorted input", []profile.Point{pt("b", "holding", 2, "uint16"), pt("a", "holding", 0, "uint32")}, Options{},
			"holding 0+3 [a b]"},
		{"a hole is never bridged", []profile.Point{pt("a", "holding", 0, "uint16"), pt("b", "holding", 10, "uint16"), pt("c", "holding", 20, "uint16")},
			Options{MaxGap: 50, Holes: []Span{{"holding", 12, 3}}},
			"holding 0+11 [a b]; holding 20+1 [c]"},
		{"a hole of another table is no matter", []profile.Point{pt("a", "holding", 0, "uint16"), pt("b", "holding", 10, "uint16")},
			Options{MaxGap: 50, Holes: []Span{{"input", 5, 1}}},
			"holding 0+11 [a b]"},
		{"a point in a hole is read alone", []profile.Point{pt("a", "holding", 0, "uint16"), pt("b", "holding", 1, "uint16"), pt("c", "holding", 2, "uint16")},
			Options{MaxGap: 50, Holes: []Span{{"holding", 1, 1}}},
			"holding 0+1 [a]; holding 1+1 [b]; holding 2+1 [c]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range Build(tt.points, tt.opts) {
				var names []string
				for _, p := range r.Points {
					names = append(names, p.Name)
				}
				got = append(got, fmt.Sprintf("%s %d+%d [%s]", r.Register, r.Start, r.Count, strings.Join(names, " ")))
			}
			if g := strings.Join(got, "; "); g != tt.want {
				t.Errorf("got  %s\nwant %s", g, tt.want)
			}
		})
	}
}

func names(r Request) string {
	var ns []string
	for _, p := range r.Points {
		ns = append(ns, p.Name)
	}
	return fmt.Sprintf("%s %d+%d [%s]", r.Register, r.Start, r.Count, strings.Join(ns, " "))
}

func TestSplit(t *testing.T) {
	t.Parallel()
	bit := func(name string, addr, b int) profile.Point {
		return profile.Point{Name: name, Register: "input", Address: addr, Type: "bool", Bit: &b}
	}
	pt := func(name string, addr int, typ profile.DataType) profile.Point {
		return profile.Point{Name: name, Register: "holding", Address: addr, Type: typ}
	}
	tests := []struct {
		name   string
		points []profile.Point
		want   string
	}{
		{"halves span only their points", []profile.Point{pt("a", 0, "uint16"), pt("b", 5, "float32"), pt("c", 20, "uint16"), pt("d", 30, "uint32")},
			"holding 0+7 [a b] | holding 20+12 [c d]"},
		{"odd count", []profile.Point{pt("a", 0, "uint16"), pt("b", 1, "uint16"), pt("c", 2, "uint16")},
			"holding 0+1 [a] | holding 1+2 [b c]"},
		{"bits of one register stay together", []profile.Point{bit("x", 4, 0), bit("y", 4, 1), bit("z", 4, 2), bit("w", 5, 0)},
			"input 4+1 [x y z] | input 5+1 [w]"},
		{"one register cannot be split", []profile.Point{bit("x", 4, 0), bit("y", 4, 1)}, "no split"},
		{"one point cannot be split", []profile.Point{pt("a", 0, "float64")}, "no split"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs := Build(tt.points, Options{MaxGap: 100})
			if len(reqs) != 1 {
				t.Fatalf("setup: %d requests", len(reqs))
			}
			a, b, ok := Split(reqs[0])
			got := "no split"
			if ok {
				got = names(a) + " | " + names(b)
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func loadGateway(t *testing.T, yaml string) *fwconfig.Gateway {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(`name: grouped-meter
class: electricity_meter
source: test
groups: {fast: 1s, totals: 1m}
points:
  - {name: dp, register: holding, address: 0, type: uint16, scale: -1}
  - {name: ua, register: holding, address: 1, type: uint16, scale_from: {point: dp, map: power10}, group: fast}
  - {name: ia, register: holding, address: 2, type: uint16, group: fast}
  - {name: pf, register: holding, address: 3, type: int16, scale: 0.001}
  - {name: ep, register: holding, address: 100, type: uint32, scale_from: {point: dp, map: power10}, counter: true, group: totals}
  - {name: eq, register: holding, address: 102, type: uint32, counter: true, group: totals}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := fwconfig.ParseGateway(filepath.Join(dir, "gw.yaml"), []byte("site: s\ngateway: g\nmqtt: {broker: 'tcp://127.0.0.1:1883'}\nqueue: {dir: /tmp/q}\nprofile_dirs: [.]\n"+yaml))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Each group is planned on its own; a group whose points are scaled by a
// register reads that register in the same requests.
func TestDeviceGroups(t *testing.T) {
	t.Parallel()
	g := loadGateway(t, `devices:
  - {name: m1, profile: grouped-meter, address: "127.0.0.1:502", unit_id: 1, interval: 10s, groups: {totals: 15m}}
`)
	var got []string
	for _, gr := range Device(&g.Devices[0]) {
		var rs []string
		for _, r := range gr.Requests {
			rs = append(rs, names(r))
		}
		got = append(got, fmt.Sprintf("%q %s: %s", gr.Name, gr.Interval, strings.Join(rs, "; ")))
	}
	want := []string{
		`"" 10s: holding 0+4 [dp pf]`,
		`"fast" 1s: holding 0+3 [dp ua ia]`,
		`"totals" 15m0s: holding 0+1 [dp]; holding 100+4 [ep eq]`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPrintSite(t *testing.T) {
	t.Parallel()
	g := loadGateway(t, `devices:
  - {name: m1, profile: grouped-meter, address: "127.0.0.1:502", unit_id: 1, interval: 10s}
  - {name: m2, profile: grouped-meter, transport: rtu, port: /dev/ttyS1, unit_id: 2, interval: 10s, max_gap: 0, max_registers: 2}
`)
	var b strings.Builder
	PrintSite(&b, g)
	want := `device m1 (grouped-meter, tcp://127.0.0.1:502 unit 1): 4 round trips per cycle
  group (default) every 10s: 1 round trips
    holding  start     0 count   4: dp pf
  group fast every 1s: 1 round trips
    holding  start     0 count   3: dp ua ia
  group totals every 1m0s: 2 round trips
    holding  start     0 count   1: dp
    holding  start   100 count   4: ep eq
device m2 (grouped-meter, rtu:///dev/ttyS1 unit 2): 7 round trips per cycle
  group (default) every 10s: 2 round trips
    holding  start     0 count   1: dp
    holding  start     3 count   1: pf
  group fast every 1s: 2 round trips
    holding  start     0 count   2: dp ua
    holding  start     2 count   1: ia
  group totals every 1m0s: 3 round trips
    holding  start     0 count   1: dp
    holding  start   100 count   2: ep
    holding  start   102 count   2: eq
total: 11 round trips per cycle (every group polled once), 203 per minute, 2 devices on 2 buses
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestRejoin(t *testing.T) {
	t.Parallel()
	pt := func(name string, addr int) profile.Point {
		return profile.Point{Name: name, Register: "holding", Address: addr, Type: "uint16"}
	}
	ps := []profile.Point{pt("a", 0), pt("b", 1), pt("c", 2), pt("d", 3), pt("e", 4), pt("f", 8), pt("g", 9)}
	one := func(i int) Request { return Build(ps[i:i+1], Options{})[0] }
	two := func(i int) Request { return Build(ps[i:i+2], Options{MaxGap: 10})[0] }
	tests := []struct {
		name    string
		reqs    []Request
		alone   []bool
		refused []Span
		want    string
	}{
		{"neighbours of a refused point rejoin", []Request{two(0), one(2), one(3), one(4)}, []bool{false, false, true, false},
			[]Span{{"holding", 0, 5}, {"holding", 2, 2}, {"holding", 3, 1}},
			"holding 0+3 [a b c] | holding 3+1 [d] | holding 4+1 [e]"},
		{"a hole is never bridged again", []Request{two(0), two(2), one(4), one(5), one(6)}, []bool{false, false, false, false, false},
			[]Span{{"holding", 0, 10}, {"holding", 4, 5}},
			"holding 0+5 [a b c d e] | holding 8+2 [f g]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range Rejoin(tt.reqs, tt.alone, tt.refused) {
				got = append(got, names(r))
			}
			if g := strings.Join(got, " | "); g != tt.want {
				t.Errorf("got  %s\nwant %s", g, tt.want)
			}
		})
	}
}
