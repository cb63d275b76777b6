package plan

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

// telegrafFill is the register fill the comparison uses: Telegraf's
// inputs.modbus with optimization = "max_insert" and its default
// optimization_max_register_fill of 50.
const telegrafFill = 50

// telegrafMaxInsert counts the requests Telegraf's max_insert optimization
// sends for points, written from its documentation ("fields are assigned
// to the same request as long as the hole between the fields does not
// exceed the maximum fill size"): per register table, fields sorted by
// address (the longer first at one address), each joins the current request
// unless the hole from the previous field's end to it exceeds fill, or the
// request would exceed the table's batch size (125 registers, 2000 bits);
// overlapping fields (bits of one register) count as a hole of 0.
func telegrafMaxInsert(points []*profile.Point, fill int) int {
	byTable := map[profile.RegisterType][]*profile.Point{}
	for _, p := range points {
		byTable[p.Register] = append(byTable[p.Register], p)
	}
	n := 0
	for rt, ps := range byTable {
		batch := MaxRegisters
		if rt.IsBit() {
			batch = MaxBits
		}
		slices.SortStableFunc(ps, func(a, b *profile.Point) int {
			if a.Address != b.Address {
				return a.Address - b.Address
			}
			return b.Words() - a.Words()
		})
		start, length := -1, 0
		for i, p := range ps {
			if start < 0 {
				start, length, n = p.Address, p.Words(), n+1
				continue
			}
			prevEnd := ps[i-1].Address + ps[i-1].Words()
			hole := max(p.Address-prevEnd, 0)
			if hole > fill || length+hole+p.Words() > batch {
				start, length, n = p.Address, p.Words(), n+1
				continue
			}
			length = p.Address + p.Words() - start
		}
	}
	return n
}

func TestTelegrafMaxInsertReference(t *testing.T) {
	t.Parallel()
	pt := func(addr int, typ profile.DataType) *profile.Point {
		return &profile.Point{Register: profile.Holding, Address: addr, Type: typ}
	}
	tests := []struct {
		name   string
		points []*profile.Point
		fill   int
		want   int
	}{
		{"contiguous", []*profile.Point{pt(0, "uint16"), pt(1, "float32")}, 50, 1},
		{"hole of exactly fill", []*profile.Point{pt(0, "uint16"), pt(51, "uint16")}, 50, 1},
		{"hole past fill", []*profile.Point{pt(0, "uint16"), pt(52, "uint16")}, 50, 2},
		{"batch size", []*profile.Point{pt(0, "uint16"), pt(123, "float32")}, 200, 1},
		{"past batch size", []*profile.Point{pt(0, "uint16"), pt(124, "float32")}, 200, 2},
		{"tables apart", []*profile.Point{pt(0, "uint16"), {Register: profile.Input, Address: 0, Type: "uint16"}}, 50, 2},
		{"DTSU666 parameters", []*profile.Point{pt(0x2006, "float32"), pt(0x201A, "float32"), pt(0x202A, "float32"), pt(0x2044, "float32")}, 50, 1},
	}
	for _, tt := range tests {
		if got := telegrafMaxInsert(tt.points, tt.fill); got != tt.want {
			t.Errorf("%s: %d requests, want %d", tt.name, got, tt.want)
		}
	}
}

// shippedPlans plans one device of every shipped profile with the default
// options, each poll group on its own.
func shippedPlans(t *testing.T) *fwconfig.Gateway {
	t.Helper()
	lib, err := profile.LoadLibrary()
	if err != nil {
		t.Fatal(err)
	}
	var devs strings.Builder
	for i, name := range lib.Names() {
		fmt.Fprintf(&devs, "  - {name: d%d, profile: %s, address: \"127.0.0.1:502\", unit_id: %d, interval: 10s}\n", i, name, i+1)
	}
	return loadGateway(t, "devices:\n"+devs.String())
}

// On every shipped profile and poll group, the default plan needs no more
// requests than Telegraf's max_insert (fill 50) for the same registers (the
// group's points and the scale registers they need).
func TestNoMoreRequestsThanTelegraf(t *testing.T) {
	t.Parallel()
	g := shippedPlans(t)
	total, totalTelegraf := 0, 0
	for i := range g.Devices {
		d := &g.Devices[i]
		ours, theirs := 0, 0
		for _, gr := range Device(d) {
			var read []*profile.Point
			for _, r := range gr.Requests {
				read = append(read, r.Points...)
			}
			o, tg := len(gr.Requests), telegrafMaxInsert(read, telegrafFill)
			if o > tg {
				t.Errorf("%s group %q: %d requests, Telegraf max_insert %d", d.Profile, gr.Name, o, tg)
			}
			ours, theirs = ours+o, theirs+tg
		}
		t.Logf("%-22s ours %2d  telegraf max_insert %2d", d.Profile, ours, theirs)
		total, totalTelegraf = total+ours, totalTelegraf+theirs
	}
	t.Logf("%-22s ours %2d  telegraf max_insert %2d", "all", total, totalTelegraf)
}
