// Package plan merges a device's points into the fewest Modbus requests.
package plan

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

// Protocol limits per request (Modbus Application Protocol v1.1b3, §6).
const (
	MaxRegisters = fwconfig.MaxReadRegisters
	MaxBits      = fwconfig.MaxReadBits
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
	// Holes are ranges the device refuses (the profile's holes and those
	// learned from its exceptions): a request of two or more points never
	// reads a register of one. A point inside a hole is read on its own.
	Holes []Span
}

// DeviceOptions are the options a device's config asks for, with the
// profile's holes and the learned ones.
func DeviceOptions(d *fwconfig.Device, learned ...Span) Options {
	o := Options{MaxRegisters: d.MaxRegisters, MaxBits: d.MaxBits, MaxGap: d.MaxGapOrDefault()}
	if d.Spec != nil {
		for _, h := range d.Spec.Holes {
			o.Holes = append(o.Holes, Span{Register: h.Register, Start: h.From, Count: h.End() - h.From})
		}
	}
	o.Holes = append(o.Holes, learned...)
	return o
}

// Request is one read: a register type, a start address and a count, and
// the points it carries.
type Request struct {
	Register profile.RegisterType
	Start    int
	Count    int
	Points   []*profile.Point
}

// End is the address after the request's last register.
func (r *Request) End() int { return r.Start + r.Count }

// Build plans the requests for points. Points are never mixed across register
// types, and a point never straddles two requests.
func Build(points []profile.Point, o Options) []Request {
	ps := make([]*profile.Point, len(points))
	for i := range points {
		ps[i] = &points[i]
	}
	return BuildPoints(ps, o)
}

// BuildPoints is Build for a subset of a profile's points.
func BuildPoints(points []*profile.Point, o Options) []Request {
	maxRegs, maxBits := o.MaxRegisters, o.MaxBits
	if maxRegs <= 0 || maxRegs > MaxRegisters {
		maxRegs = MaxRegisters
	}
	if maxBits <= 0 || maxBits > MaxBits {
		maxBits = MaxBits
	}
	byType := map[profile.RegisterType][]*profile.Point{}
	for _, p := range points {
		byType[p.Register] = append(byType[p.Register], p)
	}
	var reqs []Request
	for _, rt := range []profile.RegisterType{profile.Coil, profile.Discrete, profile.Holding, profile.Input} {
		ps := byType[rt]
		slices.SortStableFunc(ps, func(a, b *profile.Point) int { return a.Address - b.Address })
		limit := maxRegs
		if rt.IsBit() {
			limit = maxBits
		}
		var cur *Request
		for _, p := range ps {
			end := p.Address + p.Words()
			if cur != nil {
				curEnd := cur.End()
				newEnd := max(end, curEnd)
				if p.Address-curEnd <= o.MaxGap && newEnd-cur.Start <= limit &&
					(newEnd == curEnd || !o.touchesHole(rt, cur.Start, newEnd)) {
					cur.Count = newEnd - cur.Start
					cur.Points = append(cur.Points, p)
					continue
				}
				reqs = append(reqs, *cur)
			}
			cur = &Request{Register: rt, Start: p.Address, Count: p.Words(), Points: []*profile.Point{p}}
		}
		if cur != nil {
			reqs = append(reqs, *cur)
		}
	}
	return reqs
}

// touchesHole reports whether reading [start, end) of table rt would read
// a register of a hole.
func (o *Options) touchesHole(rt profile.RegisterType, start, end int) bool {
	for _, h := range o.Holes {
		if h.Register == rt && h.Start < end && start < h.Start+h.Count {
			return true
		}
	}
	return false
}

// Split divides a request of several points into two requests of about half
// the points each, each spanning only its own points. A device that refuses
// a merged read (exception 2 or 3: it spans a hole in the map, or is more
// than the device accepts) is read in halves until the offending address is
// isolated in a request of its own.
func Split(r Request) (Request, Request, bool) {
	if len(r.Points) < 2 {
		return r, Request{}, false
	}
	ps := slices.Clone(r.Points)
	slices.SortStableFunc(ps, func(a, b *profile.Point) int { return a.Address - b.Address })
	// Bits of one register must stay together: cut between addresses.
	mid := len(ps) / 2
	for mid < len(ps) && ps[mid].Address < ps[mid-1].Address+ps[mid-1].Words() {
		mid++
	}
	if mid == len(ps) {
		mid = len(ps) / 2
		for mid > 0 && ps[mid].Address < ps[mid-1].Address+ps[mid-1].Words() {
			mid--
		}
		if mid == 0 {
			return r, Request{}, false
		}
	}
	return span(r.Register, ps[:mid]), span(r.Register, ps[mid:]), true
}

func span(rt profile.RegisterType, ps []*profile.Point) Request {
	start, end := ps[0].Address, 0
	for _, p := range ps {
		start = min(start, p.Address)
		end = max(end, p.Address+p.Words())
	}
	return Request{Register: rt, Start: start, Count: end - start, Points: ps}
}

// Print writes a plan as a table, one request a line, and the round trips.
func Print(w io.Writer, device string, reqs []Request) {
	fmt.Fprintf(w, "device %s: %d round trips per cycle\n", device, len(reqs))
	printRequests(w, "  ", reqs)
}

func printRequests(w io.Writer, indent string, reqs []Request) {
	for _, r := range reqs {
		fmt.Fprintf(w, "%s%-8s start %5d count %3d:", indent, r.Register, r.Start, r.Count)
		for _, p := range r.Points {
			fmt.Fprintf(w, " %s", p.Name)
		}
		fmt.Fprintln(w)
	}
}

// Group is the plan of one poll group of a device.
type Group struct {
	Name     string // "" for the device's own interval
	Interval time.Duration
	// Points are the group's own points, reported in its samples.
	Points []*profile.Point
	// Requests read Points and the scale registers they need (which are
	// read in the same cycle so that a value is never scaled by a stale
	// factor).
	Requests []Request
}

// Device plans every poll group of a configured device, around the
// profile's holes and those learned from the device's exceptions.
func Device(d *fwconfig.Device, learned ...Span) []Group {
	o := DeviceOptions(d, learned...)
	out := make([]Group, 0, len(d.Groups))
	for _, g := range d.Groups {
		read := slices.Clone(g.Points)
		for _, p := range g.Points {
			for _, sf := range p.ScaleFrom {
				if src := d.Spec.Point(sf.Point); src != nil && !slices.Contains(read, src) {
					read = append(read, src)
				}
			}
		}
		out = append(out, Group{Name: g.Name, Interval: g.Interval, Points: g.Points, Requests: BuildPoints(read, o)})
	}
	return out
}

// PrintSite writes the plan of every device of a gateway config: its
// requests per group, round trips per poll of each group, and the totals,
// as `gateway -plan` shows them for a gateway that learned no hole yet.
func PrintSite(w io.Writer, cfg *fwconfig.Gateway) { PrintSiteLearned(w, cfg, nil) }

// PrintSiteLearned is PrintSite around the holes the gateway learned
// (nil: none), as the gateway polls from its start: `gateway -plan` reads
// them from the gateway's file.
func PrintSiteLearned(w io.Writer, cfg *fwconfig.Gateway, l *Learned) {
	perPoll, perMinute := 0, 0.0
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		learned := l.Holes(d.Name, d.Profile)
		groups := Device(d, learned...)
		n := 0
		for _, g := range groups {
			n += len(g.Requests)
		}
		fmt.Fprintf(w, "device %s (%s, %s unit %d): %d round trips per cycle\n", d.Name, d.Profile, d.Bus.Key, d.UnitID, n)
		if d.Spec != nil && len(d.Spec.Holes)+len(learned) > 0 {
			var hs []string
			for _, h := range d.Spec.Holes {
				hs = append(hs, Span{h.Register, h.From, h.End() - h.From}.String()+" (profile)")
			}
			for _, h := range learned {
				hs = append(hs, h.String()+" (learned)")
			}
			fmt.Fprintf(w, "  never bridged: %s\n", strings.Join(hs, ", "))
		}
		for _, g := range groups {
			if len(groups) > 1 || g.Name != "" {
				name := g.Name
				if name == "" {
					name = "(default)"
				}
				fmt.Fprintf(w, "  group %s every %s: %d round trips\n", name, g.Interval, len(g.Requests))
				printRequests(w, "    ", g.Requests)
			} else {
				printRequests(w, "  ", g.Requests)
			}
			perMinute += float64(len(g.Requests)) * float64(time.Minute) / float64(g.Interval)
		}
		perPoll += n
	}
	buses := map[string]bool{}
	for _, d := range cfg.Devices {
		buses[d.Bus.Key] = true
	}
	fmt.Fprintf(w, "total: %d round trips per cycle (every group polled once), %s per minute, %s on %s\n",
		perPoll, strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", perMinute), "0"), "."),
		plural(len(cfg.Devices), "device"), plural(len(buses), "bus"))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "s") {
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Span is a register range: one a device refused to read in one request,
// or a hole in its map.
type Span struct {
	Register profile.RegisterType `json:"register"`
	Start    int                  `json:"start"`
	Count    int                  `json:"count"`
}

// End is the address after the span's last one.
func (s Span) End() int { return s.Start + s.Count }

func (s Span) String() string { return fmt.Sprintf("%s %d..%d", s.Register, s.Start, s.End()-1) }

// SpanOf is the range a request reads.
func SpanOf(r Request) Span { return Span{r.Register, r.Start, r.Count} }

// covers reports whether reading r would read all of s.
func (r *Request) covers(s Span) bool {
	return r.Register == s.Register && r.Start <= s.Start && s.Start+s.Count <= r.End()
}

// Rejoin merges neighbouring requests (in address order, as Split leaves
// them) back together wherever the merged read covers none of the spans the
// device refused, so that isolating a refused address costs one extra round
// trip, not one per split. Requests marked alone (those still refused)
// are never merged.
func Rejoin(reqs []Request, alone []bool, refused []Span) []Request {
	var out []Request
	outAlone := []bool{}
	for i, r := range reqs {
		if n := len(out); n > 0 && !alone[i] && !outAlone[n-1] {
			prev := &out[n-1]
			merged := Request{Register: r.Register, Start: min(prev.Start, r.Start)}
			merged.Count = max(prev.End(), r.End()) - merged.Start
			ok := prev.Register == r.Register
			for _, s := range refused {
				if merged.covers(s) {
					ok = false
					break
				}
			}
			if ok {
				merged.Points = append(slices.Clip(prev.Points), r.Points...)
				*prev = merged
				continue
			}
		}
		out = append(out, r)
		outAlone = append(outAlone, alone[i])
	}
	return out
}
