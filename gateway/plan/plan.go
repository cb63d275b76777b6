// Package plan merges a device's points into the fewest Modbus requests.
package plan

import (
	"fmt"
	"io"
	"sort"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
)

// Protocol limits per request (Modbus Application Protocol v1.1b3, §6).
const (
	MaxRegisters = 125
	MaxBits      = 2000
)

// Options bound the merging.
type Options struct {
	// MaxRegisters and MaxBits lower the protocol limits for devices that
	// refuse large reads; 0 means the protocol limit.
	MaxRegisters int
	MaxBits      int
	// MaxGap is how many unused registers (or bits) may be read to join two
	// points into one request; a round trip costs far more than a few words.
	MaxGap int
}

// Request is one read: a register type, a start address and a count, and
// the points it carries.
type Request struct {
	Register fwconfig.RegisterType
	Start    int
	Count    int
	Points   []*fwconfig.Point
}

// Build plans the requests for points. Points are never mixed across register
// types, and a point never straddles two requests.
func Build(points []fwconfig.Point, o Options) []Request {
	maxRegs, maxBits := o.MaxRegisters, o.MaxBits
	if maxRegs <= 0 || maxRegs > MaxRegisters {
		maxRegs = MaxRegisters
	}
	if maxBits <= 0 || maxBits > MaxBits {
		maxBits = MaxBits
	}
	byType := map[fwconfig.RegisterType][]*fwconfig.Point{}
	for i := range points {
		p := &points[i]
		byType[p.Register] = append(byType[p.Register], p)
	}
	var reqs []Request
	for _, rt := range []fwconfig.RegisterType{fwconfig.Coil, fwconfig.Discrete, fwconfig.Holding, fwconfig.Input} {
		ps := byType[rt]
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Address < ps[j].Address })
		limit := maxRegs
		if rt.IsBit() {
			limit = maxBits
		}
		var cur *Request
		for _, p := range ps {
			end := p.Address + p.Words()
			if cur != nil {
				curEnd := cur.Start + cur.Count
				if p.Address-curEnd <= o.MaxGap && max(end, curEnd)-cur.Start <= limit {
					cur.Count = max(end, curEnd) - cur.Start
					cur.Points = append(cur.Points, p)
					continue
				}
				reqs = append(reqs, *cur)
			}
			cur = &Request{Register: rt, Start: p.Address, Count: p.Words(), Points: []*fwconfig.Point{p}}
		}
		if cur != nil {
			reqs = append(reqs, *cur)
		}
	}
	return reqs
}

// Print writes a plan as a table, one request a line, and the round trips.
func Print(w io.Writer, device string, reqs []Request) {
	fmt.Fprintf(w, "device %s: %d round trips per cycle\n", device, len(reqs))
	for _, r := range reqs {
		fmt.Fprintf(w, "  %-8s start %5d count %3d:", r.Register, r.Start, r.Count)
		for _, p := range r.Points {
			fmt.Fprintf(w, " %s", p.Name)
		}
		fmt.Fprintln(w)
	}
}
