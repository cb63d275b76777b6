package profile

import (
	"fmt"
	"math"
	"strings"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
)

// Identify is how gateway scan recognises a device of this model on a bus
// (the profile's optional identify: block).
//
//	identify:
//	  match:                  # every one must hold one of its values
//	    - {register: holding, address: 0xFC02, type: uint16, values: [0x0070], description: model code}
//	    - {point: firmware, values: ["V2.1", "V2.2"]}
//	  points: [ua, freq]      # points whose range a reading must satisfy
//
// A match entry either names a point of the profile or describes a
// register of its own (register, address, type, byte_order, length), which
// is read only when scanning, never polled. Values are compared with the
// decoded value (after scale and offset; strings without trailing NULs).
// Without points, every point with a range counts.
type Identify struct {
	Match  []IdentifyMatch `yaml:"match"`
	Points []string        `yaml:"points"`
}

// IdentifyMatch is a register whose value names the model or the
// manufacturer.
type IdentifyMatch struct {
	Point       string       `yaml:"point"`
	Register    RegisterType `yaml:"register"`
	Address     int          `yaml:"address"`
	Type        DataType     `yaml:"type"`
	ByteOrder   string       `yaml:"byte_order"`
	Length      int          `yaml:"length"`
	Values      []any        `yaml:"values"`
	Description string       `yaml:"description"`

	// Spec is what is read: the named point, or one made of the fields above.
	Spec *Point `yaml:"-"`
}

// Matches reports whether a decoded value is one of the expected values.
func (m *IdentifyMatch) Matches(v Value) bool {
	for _, w := range m.Values {
		switch x := w.(type) {
		case string:
			if v.Kind == KindString && v.Str == x {
				return true
			}
		default:
			f, ok := number(w)
			if ok && v.Kind == KindBool && (f == 1) == v.Bool && (f == 0 || f == 1) {
				return true
			}
			if ok && v.Kind == KindNumber && math.Abs(v.Num-f) <= 1e-9*math.Max(1, math.Abs(f)) {
				return true
			}
		}
	}
	return false
}

// Expected lists the values, for messages (integers in decimal and hex).
func (m *IdentifyMatch) Expected() string {
	var s []string
	for _, w := range m.Values {
		if f, ok := number(w); ok && f == math.Trunc(f) && f >= 0 && f < 1<<53 {
			s = append(s, fmt.Sprintf("%d (0x%X)", int64(f), int64(f)))
			continue
		}
		s = append(s, fmt.Sprintf("%q", fmt.Sprint(w)))
	}
	return strings.Join(s, " or ")
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// RangePoints are the points whose range identifies the device: the
// identify block's points, or every point that declares a range.
func (pr *Profile) RangePoints() []*Point {
	var out []*Point
	if pr.Identify != nil && len(pr.Identify.Points) > 0 {
		for _, n := range pr.Identify.Points {
			if p := pr.Point(n); p != nil {
				out = append(out, p)
			}
		}
		return out
	}
	for i := range pr.Points {
		if len(pr.Points[i].Range) == 2 {
			out = append(out, &pr.Points[i])
		}
	}
	return out
}

// Identifiable reports whether gateway scan can tell this model apart:
// it declares match registers or ranges.
func (pr *Profile) Identifiable() bool {
	return (pr.Identify != nil && len(pr.Identify.Match) > 0) || len(pr.RangePoints()) > 0
}

// InRange reports whether v lies in the point's range; true without one.
func (p *Point) InRange(v float64) bool {
	if len(p.Range) != 2 {
		return true
	}
	return v >= p.Range[0] && v <= p.Range[1]
}

// ByteOrderName is the byte order the point decodes in (ABCD, CDAB, BADC
// or DCBA; for one register ABCD and CDAB read the same, as do BADC and DCBA).
func (p *Point) ByteOrderName() string {
	return [...]string{"ABCD", "CDAB", "BADC", "DCBA"}[p.order]
}

// WithByteOrder is a copy of the point that decodes in another byte order,
// to see what a reading would be had the profile named that order.
func (p *Point) WithByteOrder(order string) (*Point, error) {
	o, ok := parseByteOrder(order)
	if !ok {
		return nil, fmt.Errorf("%q is not a byte order; one of ABCD, CDAB, BADC, DCBA", order)
	}
	q := *p
	q.order, q.ByteOrder = o, order
	return &q, nil
}

// checkRange: a range is two finite numbers, min < max, on a numeric point.
func checkRange(d *conf.Document, at string, pt *Point) {
	if pt.Range == nil {
		return
	}
	switch {
	case pt.Type == Bool || pt.Type == String || pt.Register.IsBit():
		d.Errorf(at+".range", "range applies to numeric points only")
	case len(pt.Range) != 2:
		d.Errorf(at+".range", "want [min, max], the plausible span of the value in its unit (e.g. [50, 500] for a mains voltage)")
	case math.IsNaN(pt.Range[0]) || math.IsNaN(pt.Range[1]) || math.IsInf(pt.Range[0], 0) || math.IsInf(pt.Range[1], 0):
		d.Errorf(at+".range", "min and max must be finite numbers")
	case pt.Range[0] >= pt.Range[1]:
		d.Errorf(at+".range", "[%g, %g]: min must be below max", pt.Range[0], pt.Range[1])
	}
}

// validateIdentify resolves the identify block: named points exist, an
// own register is a well-formed point, values fit the type.
func (pr *Profile) validateIdentify(d *conf.Document) {
	id := pr.Identify
	if id == nil {
		return
	}
	if len(id.Match) == 0 && len(id.Points) == 0 {
		d.Errorf("identify", "empty: give match (registers naming the model) or points (points whose range a reading must satisfy)")
	}
	for i, n := range id.Points {
		at := fmt.Sprintf("identify.points[%d]", i)
		p := pr.Point(n)
		switch {
		case p == nil:
			d.Errorf(at, "no point %q in this profile", n)
		case len(p.Range) != 2:
			d.Errorf(at, "point %q has no range: write range: [min, max] on it", n)
		}
	}
	defOrder := byteOrderABCD
	if o, ok := parseByteOrder(pr.ByteOrder); ok {
		defOrder = o
	}
	for i := range id.Match {
		m := &id.Match[i]
		at := fmt.Sprintf("identify.match[%d]", i)
		if len(m.Values) == 0 {
			d.Errorf(at+".values", "missing: the value(s) the register holds on this model")
		}
		if m.Point != "" {
			if m.Register != "" || m.Type != "" || m.ByteOrder != "" || m.Length != 0 {
				d.Errorf(at, "write either point (a point of this profile) or register, address and type, not both")
				continue
			}
			if m.Spec = pr.Point(m.Point); m.Spec == nil {
				d.Errorf(at+".point", "no point %q in this profile", m.Point)
				continue
			}
		} else {
			m.Spec = m.point(d, at, defOrder)
			if m.Spec == nil {
				continue
			}
		}
		isString := m.Spec.Type == String
		for j, v := range m.Values {
			_, isNum := number(v)
			_, isStr := v.(string)
			if isString && !isStr || !isString && !isNum {
				want := "numbers"
				if isString {
					want = "strings"
				}
				d.Errorf(fmt.Sprintf("%s.values[%d]", at, j), "%v: a %s register's values are %s", v, m.Spec.Type, want)
			}
		}
	}
}

// point makes the register an identify entry describes into a point.
func (m *IdentifyMatch) point(d *conf.Document, at string, order byteOrder) *Point {
	p := &Point{Name: at, Register: m.Register, Address: m.Address, Type: m.Type,
		ByteOrder: m.ByteOrder, Length: m.Length, order: order, Description: m.Description}
	switch m.Register {
	case Holding, Input, Coil, Discrete:
	default:
		d.Errorf(at+".register", "%q: write point, or register (coil, discrete, holding, input) with address and type", m.Register)
		return nil
	}
	if _, set := d.Raw(at + ".address"); !set {
		d.Errorf(at+".address", "missing; write the 0-based protocol address")
		return nil
	}
	if m.Address < 0 || m.Address > 65535 {
		d.Errorf(at+".address", "%d is outside 0..65535", m.Address)
		return nil
	}
	_, known := dataWords[m.Type]
	switch {
	case m.Register.IsBit() && m.Type != Bool:
		d.Errorf(at+".type", "a %s holds single bits: type must be bool", m.Register)
		return nil
	case m.Type == String && (m.Length < 1 || m.Length > 125):
		d.Errorf(at+".length", "a string needs length 1..125 registers")
		return nil
	case m.Type == Bool && !m.Register.IsBit():
		d.Errorf(at+".type", "compare a register as a number (uint16), not a bool")
		return nil
	case !known && m.Type != String:
		d.Errorf(at+".type", "%q is not a data type; one of uint16, int16, uint32, int32, uint64, int64, float32, float64, bcd16, bcd32, string", m.Type)
		return nil
	}
	if m.ByteOrder != "" {
		o, ok := parseByteOrder(m.ByteOrder)
		if !ok {
			d.Errorf(at+".byte_order", "%q is not a byte order; one of ABCD, DCBA, BADC, CDAB", m.ByteOrder)
			return nil
		}
		p.order = o
	}
	if p.Address+p.Words() > 65536 {
		d.Errorf(at+".address", "spans %d registers from %d, past address 65535", p.Words(), p.Address)
		return nil
	}
	return p
}
