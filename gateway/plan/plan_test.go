package plan

import (
	"fmt"
	"strings"
	"testing"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
)

func TestBuild(t *testing.T) {
	pt := func(name string, reg fwconfig.RegisterType, addr int, typ fwconfig.DataType) fwconfig.Point {
		return fwconfig.Point{Name: name, Register: reg, Address: addr, Type: typ}
	}
	tests := []struct {
		name   string
		points []fwconfig.Point
		opts   Options
		want   string
	}{
		{"contiguous merge", []fwconfig.Point{pt("a", "holding", 0, "uint16"), pt("b", "holding", 1, "float32")}, Options{},
			"holding 0+3 [a b]"},
		{"gap bridged", []fwconfig.Point{pt("a", "holding", 0, "uint16"), pt("b", "holding", 10, "uint16")}, Options{MaxGap: 10},
			"holding 0+11 [a b]"},
		{"gap too wide", []fwconfig.Point{pt("a", "holding", 0, "uint16"), pt("b", "holding", 10, "uint16")}, Options{MaxGap: 8},
			"holding 0+1 [a]; holding 10+1 [b]"},
		{"types never mixed", []fwconfig.Point{pt("a", "holding", 0, "uint16"), pt("b", "input", 1, "uint16"), pt("c", "coil", 0, "bool")}, Options{MaxGap: 50},
			"coil 0+1 [c]; holding 0+1 [a]; input 1+1 [b]"},
		{"register limit", []fwconfig.Point{pt("a", "holding", 0, "uint16"), pt("b", "holding", 124, "float32")}, Options{MaxGap: 200},
			"holding 0+1 [a]; holding 124+2 [b]"},
		{"lowered limit", []fwconfig.Point{pt("a", "input", 0, "uint16"), pt("b", "input", 1, "uint16"), pt("c", "input", 2, "uint16")}, Options{MaxRegisters: 2},
			"input 0+2 [a b]; input 2+1 [c]"},
		{"bits of one register share it", []fwconfig.Point{pt("x", "input", 5, "bool"), pt("y", "input", 5, "bool")}, Options{},
			"input 5+1 [x y]"},
		{"unsorted input", []fwconfig.Point{pt("b", "holding", 2, "uint16"), pt("a", "holding", 0, "uint32")}, Options{},
			"holding 0+3 [a b]"},
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
