package profile

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
)

// MinInterval is the shortest poll interval accepted, for a device or a
// group of points.
const MinInterval = 100 * time.Millisecond

// RegisterType is a Modbus data table.
type RegisterType string

const (
	Coil     RegisterType = "coil"     // function code 1
	Discrete RegisterType = "discrete" // function code 2
	Holding  RegisterType = "holding"  // function code 3
	Input    RegisterType = "input"    // function code 4
)

// IsBit reports whether the table holds single bits rather than 16-bit words.
func (r RegisterType) IsBit() bool { return r == Coil || r == Discrete }

// DataType is how a point's registers encode its raw value.
type DataType string

const (
	Bool    DataType = "bool" // a coil, a discrete input, or one bit of a register
	Int16   DataType = "int16"
	Uint16  DataType = "uint16"
	Int32   DataType = "int32"
	Uint32  DataType = "uint32"
	Int64   DataType = "int64"
	Uint64  DataType = "uint64"
	Float32 DataType = "float32"
	Float64 DataType = "float64"
	BCD16   DataType = "bcd16"
	BCD32   DataType = "bcd32"
	String  DataType = "string" // fixed length, Length registers, NUL padded
)

var dataWords = map[DataType]int{
	Bool: 1, Int16: 1, Uint16: 1, BCD16: 1,
	Int32: 2, Uint32: 2, Float32: 2, BCD32: 2,
	Int64: 4, Uint64: 4, Float64: 4,
}

// Point is one named value of a device profile.
type Point struct {
	Name string `yaml:"name"`
	// Quantity names the physical quantity the simulator serves here
	// (steam_flow, voltage_a...). Defaults to Name.
	Quantity string       `yaml:"quantity"`
	Register RegisterType `yaml:"register"`
	// Address is the 0-based protocol address as sent in the request PDU.
	Address int `yaml:"address"`
	// Ref is the alternative, Modicon-style reference a manual may print
	// (40001 = holding address 0, 30010 = input address 9, 6 digits for
	// addresses above 9998). It is converted to Register and Address at load.
	Ref       string   `yaml:"ref"`
	Type      DataType `yaml:"type"`
	ByteOrder string   `yaml:"byte_order"`
	// Bit selects one bit (0 = least significant) of a register for type bool.
	Bit *int `yaml:"bit"`
	// Length is the register count of a string.
	Length int      `yaml:"length"`
	Scale  *float64 `yaml:"scale"`
	// ScaleFrom multiplies the scale by factors read from other points of
	// the same device (a decimal-point register, or PT and CT ratios): one
	// mapping, or a list whose factors multiply.
	ScaleFrom ScaleSources `yaml:"scale_from"`
	Offset    float64      `yaml:"offset"`
	Unit      string       `yaml:"unit"`
	// Group names the poll group (declared in the profile's groups) whose
	// interval this point is read at; empty is the device's interval.
	Group string `yaml:"group"`
	// Counter marks a cumulative total (kWh, t) that only increases.
	Counter bool `yaml:"counter"`
	// Modulus is where a counter rolls over to zero, in the point's unit
	// after scaling: 100000 for a 5-digit kWh register, 65536 × scale for
	// a uint16 that wraps at its width. With it a decrease that the
	// modulus explains is booked as a wrap (new + modulus − previous), not
	// as a meter reset.
	Modulus *float64 `yaml:"modulus"`
	// Range is where a reading of this point plausibly lies, [min, max] in
	// its unit after scaling (mains voltage 50..500 V, frequency 45..65 Hz,
	// O2 0..21 %): gateway read flags a value outside it and names the byte
	// order that would fit, and gateway scan ranks profiles by it. It
	// never changes a value's quality in normal polling.
	Range []float64 `yaml:"range"`
	// NotAvailable lists raw values that mean "no reading" (e.g. 0x8000);
	// they become quality bad, never a number. NaN always does.
	NotAvailable []int64 `yaml:"not_available"`
	Description  string  `yaml:"description"`

	order byteOrder
}

// ScaleMap turns a scale register's value into a factor.
type ScaleMap string

const (
	// Power10: factor = 10^v, for decimal-point registers (with offset on
	// the source point when the manual says 10^(dp-3), or scale -1 for 10^-dp).
	Power10 ScaleMap = "power10"
	// Multiply: factor = v, for PT or CT ratios.
	Multiply ScaleMap = "multiply"
	// Divide: factor = 1/v.
	Divide ScaleMap = "divide"
)

// ScaleFrom names a point whose value scales another.
type ScaleFrom struct {
	Point string   `yaml:"point"`
	Map   ScaleMap `yaml:"map"`
}

// ScaleSources are a point's scale_from entries.
type ScaleSources []ScaleFrom

// UnmarshalYAML accepts one mapping ({point: dp, map: power10}) or a list
// of them, and rejects unknown keys as strictly as the rest of the file.
func (s *ScaleSources) UnmarshalYAML(n *yaml.Node) error {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	for j, it := range items {
		at := ""
		if n.Kind == yaml.SequenceNode {
			at = fmt.Sprintf("[%d]", j)
		}
		if it.Kind != yaml.MappingNode {
			return &conf.Error{Line: it.Line, Field: at, Msg: "want {point: NAME, map: power10|multiply|divide} or a list of them"}
		}
		for i := 0; i+1 < len(it.Content); i += 2 {
			if k := it.Content[i]; k.Value != "point" && k.Value != "map" {
				return &conf.Error{Line: k.Line, Field: at, Msg: fmt.Sprintf("unknown field %q (write point and map)", k.Value)}
			}
		}
		var f ScaleFrom
		if err := it.Decode(&f); err != nil {
			return &conf.Error{Line: it.Line, Field: at, Msg: "want {point: NAME, map: power10|multiply|divide}: point and map are single words"}
		}
		*s = append(*s, f)
	}
	return nil
}

// Factor is the product of every source's factor, given each source
// point's engineering value by name.
func (s ScaleSources) Factor(value func(point string) (float64, error)) (float64, error) {
	f := 1.0
	for i := range s {
		v, err := value(s[i].Point)
		if err != nil {
			return 0, fmt.Errorf("scale point %s: %w", s[i].Point, err)
		}
		g, err := s[i].Factor(v)
		if err != nil {
			return 0, err
		}
		f *= g
	}
	return f, nil
}

// ErrScale marks a scale register whose value cannot scale anything.
var ErrScale = errors.New("scale register out of range")

// Factor maps the scale point's engineering value to the factor that
// multiplies the target's scale.
func (s *ScaleFrom) Factor(v float64) (float64, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("scale point %s holds %v: %w", s.Point, v, ErrScale)
	}
	switch s.Map {
	case Power10:
		// Meters publish a small exponent; anything else is a misread.
		if v != math.Trunc(v) || v < -12 || v > 12 {
			return 0, fmt.Errorf("scale point %s holds %v, not an exponent in -12..12: %w", s.Point, v, ErrScale)
		}
		return math.Pow10(int(v)), nil
	case Multiply:
		if v == 0 {
			return 0, fmt.Errorf("scale point %s holds 0: %w", s.Point, ErrScale)
		}
		return v, nil
	case Divide:
		if v == 0 {
			return 0, fmt.Errorf("scale point %s holds 0: %w", s.Point, ErrScale)
		}
		return 1 / v, nil
	}
	return 0, fmt.Errorf("scale point %s: unknown map %q", s.Point, s.Map)
}

// Profile is the register map of one device model.
type Profile struct {
	Name string `yaml:"name"`
	// Class is the device class, used as the InfluxDB measurement, or
	// generic for a device outside the listed classes.
	Class string `yaml:"class"`
	// Measurement is a generic profile's own InfluxDB measurement; the
	// other classes' measurement is their class (MeasurementName).
	Measurement  string `yaml:"measurement"`
	Manufacturer string `yaml:"manufacturer"`
	Model        string `yaml:"model"`
	// Source cites the manufacturer document the register map comes from.
	Source      string `yaml:"source"`
	Description string `yaml:"description"`
	ByteOrder   string `yaml:"byte_order"`
	// Groups declares the poll groups the points may name, with their
	// default intervals (a gateway config may override them per device).
	Groups map[string]conf.Duration `yaml:"groups"`
	Points []Point                  `yaml:"points"`
	// Holes are address ranges the device is known to refuse (exception 2):
	// the request planner never reads across one to join two points.
	Holes []Hole `yaml:"holes"`
	// Areas are the address ranges the device's manual says it answers as
	// a block (every register in them readable, named by a point or not):
	// what the simulator serves on a strict map, beside the points. None:
	// only the points' addresses. Written as holes are.
	Areas []Hole `yaml:"areas"`
	// Identify tells gateway scan how to recognise this model on a bus
	// (identify.go).
	Identify *Identify `yaml:"identify"`

	File string `yaml:"-"`
}

// Hole is a range of addresses of one table that the device does not
// answer, From to To inclusive (To defaults to From).
type Hole struct {
	Register RegisterType `yaml:"register"`
	From     int          `yaml:"from"`
	To       *int         `yaml:"to"`
}

// End is the address after the hole's last one.
func (h *Hole) End() int {
	if h.To == nil {
		return h.From + 1
	}
	return *h.To + 1
}

// Words is the number of registers (or bits, for coils and discrete inputs) the point spans.
func (p *Point) Words() int {
	if p.Register.IsBit() {
		return 1
	}
	if p.Type == String {
		return p.Length
	}
	return dataWords[p.Type]
}

// ScaleFactor is the configured scale, 1 when absent.
func (p *Point) ScaleFactor() float64 {
	if p.Scale == nil {
		return 1
	}
	return *p.Scale
}

// QuantityName is what the simulator serves at this point.
func (p *Point) QuantityName() string {
	if p.Quantity != "" {
		return p.Quantity
	}
	return p.Name
}

// Point returns the named point, or nil.
func (pr *Profile) Point(name string) *Point {
	for i := range pr.Points {
		if pr.Points[i].Name == name {
			return &pr.Points[i]
		}
	}
	return nil
}

// Generic is the class of a device outside the listed ones: its profile
// names its own measurement.
const Generic = "generic"

var deviceClasses = map[string]bool{
	"boiler": true, "electricity_meter": true, "steam_meter": true, "heat_meter": true,
	"gas_meter": true, "water_meter": true, "o2_analyzer": true, "plc": true, "coal_scale": true,
	Generic: true,
}

// IsDeviceClass reports whether a profile may declare class: the collector
// accepts telemetry only in these measurements (and those its config adds).
func IsDeviceClass(class string) bool { return deviceClasses[class] }

// MeasurementName is the InfluxDB measurement of this profile's samples
// (the class a gateway sends): the class, or a generic profile's own
// measurement.
func (pr *Profile) MeasurementName() string {
	if pr.Class == Generic {
		return pr.Measurement
	}
	return pr.Class
}

// ParseProfile reads and validates one profile file.
func ParseProfile(file string, data []byte) (*Profile, error) {
	var p Profile
	d, err := conf.Decode(file, data, &p)
	if err != nil {
		return nil, err
	}
	p.File = file
	p.validate(d)
	if err := d.Err(); err != nil {
		return nil, err
	}
	return &p, nil
}

func (pr *Profile) validate(d *conf.Document) {
	if !conf.ValidName(pr.Name) {
		d.Errorf("name", "%q is not a valid profile name (%s)", pr.Name, conf.NameRule)
	}
	if !deviceClasses[pr.Class] {
		d.Errorf("class", "%q is not a device class; one of %s", pr.Class, keys(deviceClasses))
	}
	pr.validateMeasurement(d)
	if strings.TrimSpace(pr.Source) == "" {
		d.Errorf("source", "cite the manufacturer document the register map comes from")
	}
	if len(pr.Points) == 0 {
		d.Errorf("points", "a profile needs at least one point")
	}
	defOrder := byteOrderABCD
	if pr.ByteOrder != "" {
		o, ok := parseByteOrder(pr.ByteOrder)
		if !ok {
			d.Errorf("byte_order", "%q is not a byte order; one of ABCD, DCBA, BADC, CDAB (or ABCDEFGH, HGFEDCBA, BADCFEHG, GHEFCDAB)", pr.ByteOrder)
		}
		defOrder = o
	}
	for _, g := range slices.Sorted(maps.Keys(pr.Groups)) {
		if !conf.ValidName(g) {
			d.Errorf("groups."+g, "%q is not a valid group name (%s)", g, conf.NameRule)
			continue
		}
		iv := pr.Groups[g]
		d.Duration("groups."+g, &iv, 0, MinInterval)
	}
	names := conf.Unique{What: "point name"}
	type span struct {
		lo, hi int
		name   string
	}
	used := map[RegisterType][]span{}
	for i := range pr.Points {
		pt := &pr.Points[i]
		at := fmt.Sprintf("points[%d]", i)
		if !conf.ValidPointName(pt.Name) {
			d.Errorf(at+".name", "%q is not a valid point name (letters, digits, - _ ., not starting with _, not \"time\")", pt.Name)
		} else {
			names.Check(d, at, "name", pt.Name)
		}
		if pt.Group != "" {
			if _, ok := pr.Groups[pt.Group]; !ok {
				d.Errorf(at+".group", "group %q is not declared in the profile's groups (%s)", pt.Group, pr.GroupList())
			}
		}
		if pt.Ref != "" {
			if !pt.resolveRef(d, at) {
				continue
			}
		} else if _, set := d.Raw(at + ".address"); !set {
			d.Errorf(at+".address", "missing; write the 0-based protocol address (address: 0) or a reference (ref: 40001)")
			continue
		}
		switch pt.Register {
		case Coil, Discrete, Holding, Input:
		default:
			d.Errorf(at+".register", "%q is not a register type; one of coil, discrete, holding, input", pt.Register)
			continue
		}
		if _, ok := dataWords[pt.Type]; !ok && pt.Type != String {
			d.Errorf(at+".type", "%q is not a data type; one of bool, int16, uint16, int32, uint32, int64, uint64, float32, float64, bcd16, bcd32, string", pt.Type)
			continue
		}
		if pt.Register.IsBit() && pt.Type != Bool {
			d.Errorf(at+".type", "a %s holds single bits: type must be bool", pt.Register)
			continue
		}
		if pt.Bit != nil && (pt.Type != Bool || pt.Register.IsBit() || *pt.Bit < 0 || *pt.Bit > 15) {
			d.Errorf(at+".bit", "bit applies to type bool in a holding or input register and must be 0..15")
		}
		if pt.Type == Bool && !pt.Register.IsBit() && pt.Bit == nil {
			d.Errorf(at+".bit", "a bool in a %s register needs bit: 0..15", pt.Register)
		}
		if pt.Type == String {
			if pt.Length < 1 || pt.Length > 125 {
				d.Errorf(at+".length", "a string needs length 1..125 registers")
			}
		} else if pt.Length != 0 {
			d.Errorf(at+".length", "length applies to type string only")
		}
		pt.order = defOrder
		if pt.ByteOrder != "" {
			o, ok := parseByteOrder(pt.ByteOrder)
			if !ok {
				d.Errorf(at+".byte_order", "%q is not a byte order; one of ABCD, DCBA, BADC, CDAB (or ABCDEFGH, HGFEDCBA, BADCFEHG, GHEFCDAB)", pt.ByteOrder)
			}
			pt.order = o
		}
		if pt.Scale != nil && (*pt.Scale == 0 || math.IsNaN(*pt.Scale) || math.IsInf(*pt.Scale, 0)) {
			d.Errorf(at+".scale", "scale must be a finite non-zero number")
		}
		if (pt.Type == Bool || pt.Type == String) && (pt.Scale != nil || pt.Offset != 0 || len(pt.ScaleFrom) > 0) {
			d.Errorf(at+".scale", "scale, scale_from and offset apply to numeric types only")
		}
		checkModulus(d, at, pt)
		checkRange(d, at, pt)
		if pt.Ref == "" && !checkAddressNotation(d, at, pt) {
			continue
		}
		if pt.Address < 0 || pt.Address > 65535 {
			d.Errorf(at+".address", "%d is outside 0..65535 (write the 0-based protocol address, e.g. 0 for register 40001)", pt.Address)
			continue
		}
		end := pt.Address + pt.Words()
		if end > 65536 {
			d.Errorf(at+".address", "point spans %d registers from %d, past address 65535", pt.Words(), pt.Address)
			continue
		}
		// Bits of one register may share it; anything else overlapping is a typo.
		if pt.Bit == nil {
			for _, s := range used[pt.Register] {
				if pt.Address < s.hi && s.lo < end {
					d.Errorf(at+".address", "%s %d..%d overlaps point %q", pt.Register, pt.Address, end-1, s.name)
				}
			}
			used[pt.Register] = append(used[pt.Register], span{pt.Address, end, pt.Name})
		}
	}
	pr.validateHoles(d)
	pr.validateAreas(d)
	pr.validateIdentify(d)
	// Scale sources are checked once every point is known.
	for i := range pr.Points {
		pt := &pr.Points[i]
		for j, sf := range pt.ScaleFrom {
			at := fmt.Sprintf("points[%d].scale_from", i)
			if len(pt.ScaleFrom) > 1 {
				at = fmt.Sprintf("%s[%d]", at, j)
			}
			switch sf.Map {
			case Power10, Multiply, Divide:
			default:
				d.Errorf(at+".map", "%q is not a scale map; one of power10 (factor 10^v), multiply (v), divide (1/v)", sf.Map)
			}
			src := pr.Point(sf.Point)
			switch {
			case src == nil:
				d.Errorf(at+".point", "no point %q in this profile", sf.Point)
			case src == pt:
				d.Errorf(at+".point", "a point cannot scale itself")
			case len(src.ScaleFrom) > 0:
				d.Errorf(at+".point", "point %q is itself scaled by another point; chains are not supported", src.Name)
			case src.Type == Bool || src.Type == String:
				d.Errorf(at+".point", "point %q is a %s, not a number", src.Name, src.Type)
			}
		}
	}
}

// validateMeasurement: a generic profile names its measurement, a valid
// name that is none of the listed classes (their data would mix); the other
// classes' measurement is the class itself.
func (pr *Profile) validateMeasurement(d *conf.Document) {
	switch {
	case pr.Class != Generic && pr.Measurement != "":
		d.Errorf("measurement", "applies to class generic only; a %s's measurement is its class", pr.Class)
	case pr.Class != Generic:
	case pr.Measurement == "":
		d.Errorf("measurement", "missing; a generic profile names its InfluxDB measurement (e.g. chiller, compressor)")
	case !conf.ValidName(pr.Measurement):
		d.Errorf("measurement", "%q is not a valid measurement name (%s)", pr.Measurement, conf.NameRule)
	case deviceClasses[pr.Measurement]:
		d.Errorf("measurement", "%q is a device class: write class: %s instead of a generic profile", pr.Measurement, pr.Measurement)
	}
}

// validateHoles checks the declared holes: a known table, addresses in
// 0..65535, from <= to, and no point inside (a point the device refuses
// belongs out of the profile, not in a hole).
func (pr *Profile) validateHoles(d *conf.Document) {
	for i := range pr.Holes {
		h := &pr.Holes[i]
		at := fmt.Sprintf("holes[%d]", i)
		if !validRange(d, at, h, "refuses", "refused") {
			continue
		}
		for j := range pr.Points {
			pt := &pr.Points[j]
			if pt.Register == h.Register && h.From < pt.Address+pt.Words() && pt.Address < h.End() {
				d.Errorf(at, "%s %d..%d holds point %q: a hole is a range the device refuses, and no point may lie in it", h.Register, h.From, h.End()-1, pt.Name)
			}
		}
	}
}

// validateAreas checks the declared areas as ranges, and that none
// overlaps a hole: an address cannot be both answered and refused.
func (pr *Profile) validateAreas(d *conf.Document) {
	for i := range pr.Areas {
		a := &pr.Areas[i]
		at := fmt.Sprintf("areas[%d]", i)
		if !validRange(d, at, a, "answers", "answered") {
			continue
		}
		for j := range pr.Holes {
			h := &pr.Holes[j]
			if h.Register == a.Register && h.From < a.End() && a.From < h.End() {
				d.Errorf(at, "%s %d..%d overlaps holes[%d]: an address is either answered or refused", a.Register, a.From, a.End()-1, j)
			}
		}
	}
}

// validRange checks a hole or an area at path at: a known table, addresses
// in 0..65535, from <= to. verb and adj say what the device does with it.
func validRange(d *conf.Document, at string, h *Hole, verb, adj string) bool {
	switch h.Register {
	case Coil, Discrete, Holding, Input:
	default:
		d.Errorf(at+".register", "%q is not a register type; one of coil, discrete, holding, input", h.Register)
		return false
	}
	if _, set := d.Raw(at + ".from"); !set {
		d.Errorf(at+".from", "missing; write the first 0-based protocol address the device %s", verb)
		return false
	}
	if h.From < 0 || h.From > 65535 {
		d.Errorf(at+".from", "%d is outside 0..65535", h.From)
		return false
	}
	if h.To != nil && (*h.To < h.From || *h.To > 65535) {
		d.Errorf(at+".to", "%d: want the last %s address, from %d to 65535", *h.To, adj, h.From)
		return false
	}
	return true
}

// rawRange is how many distinct raw values an integer type holds (the
// register width), 0 for the types a modulus cannot be checked against.
var rawRange = map[DataType]float64{
	Int16: 1 << 16, Uint16: 1 << 16, Int32: 1 << 32, Uint32: 1 << 32,
	Int64: 1 << 64, Uint64: 1 << 64, BCD16: 1e4, BCD32: 1e8,
}

// checkModulus: a modulus belongs to a counter, is a positive number, and
// (for an integer register with a fixed scale) is no more than the
// register can count to, since a register cannot wrap past its width.
func checkModulus(d *conf.Document, at string, pt *Point) {
	if pt.Modulus == nil {
		return
	}
	m := *pt.Modulus
	switch {
	case !pt.Counter:
		d.Errorf(at+".modulus", "modulus applies to a counter (counter: true): only a total rolls over")
	case !(m > 0) || math.IsInf(m, 0):
		d.Errorf(at+".modulus", "%v: want the positive value at which the counter rolls over to 0, in its unit (e.g. 100000 for 5 digits)", m)
	case len(pt.ScaleFrom) == 0 && rawRange[pt.Type] > 0:
		limit := rawRange[pt.Type] * math.Abs(pt.ScaleFactor())
		if m > limit*(1+1e-9) {
			d.Errorf(at+".modulus", "%v is beyond what a %s with scale %g can count to (%g): the register wraps there first", m, pt.Type, pt.ScaleFactor(), limit)
		}
	}
}

// resolveRef converts a Modicon reference (5 digits: 0xxxx coils,
// 1xxxx discrete inputs, 3xxxx input registers, 4xxxx holding registers,
// numbered from 1; or the same with 6 digits for numbers above 9999) into
// Register and Address. It reports false when the point is unusable.
func (pt *Point) resolveRef(d *conf.Document, at string) bool {
	if _, set := d.Raw(at + ".address"); set {
		d.Errorf(at+".ref", "write either address (0-based protocol address) or ref (Modicon reference), not both")
		return false
	}
	r := pt.Ref
	n, err := strconv.Atoi(r[1:])
	if (len(r) != 5 && len(r) != 6) || err != nil || strings.ContainsAny(r, "+-") {
		d.Errorf(at+".ref", "%q is not a reference; write 5 or 6 digits such as 40001 (holding address 0) or 300010 (input address 9)", r)
		return false
	}
	tables := map[byte]RegisterType{'0': Coil, '1': Discrete, '3': Input, '4': Holding}
	reg, ok := tables[r[0]]
	if !ok {
		d.Errorf(at+".ref", "%q: the first digit names the table: 0 coil, 1 discrete input, 3 input register, 4 holding register", r)
		return false
	}
	max := 9999
	if len(r) == 6 {
		max = 65536
	}
	if n < 1 || n > max {
		d.Errorf(at+".ref", "%q: the number after the table digit must be 1..%d (references count from 1)", r, max)
		return false
	}
	if pt.Register != "" && pt.Register != reg {
		d.Errorf(at+".ref", "%q refers to the %s table but register says %s", r, reg, pt.Register)
		return false
	}
	pt.Register, pt.Address = reg, n-1
	return true
}

// checkAddressNotation rejects the two ways a manual's address is commonly
// mistyped into a profile: a Modicon reference written as an address
// (40001 meant as holding register 0) and a leading zero, which YAML reads
// as octal (0100 is 64).
func checkAddressNotation(d *conf.Document, at string, pt *Point) bool {
	raw, ok := d.Raw(at + ".address")
	if !ok {
		return true
	}
	if len(raw) > 1 && raw[0] == '0' && raw[1] >= '0' && raw[1] <= '9' {
		d.Errorf(at+".address", "%s has a leading zero, which YAML reads as octal %d; write the decimal number without it or hex such as 0x%X", raw, pt.Address, pt.Address)
		return false
	}
	if len(raw) != 5 || strings.ContainsAny(raw, "xXoObB_") {
		return true
	}
	table := map[byte]RegisterType{'3': Input, '4': Holding}[raw[0]]
	if table != pt.Register || pt.Address%10000 == 0 {
		return true
	}
	d.Errorf(at+".address", "%s looks like a Modicon reference (%s register %d counted from 1); "+
		"write ref: %s for protocol address %d, or, if the device really uses protocol address %d, write it in hex: 0x%04X",
		raw, pt.Register, pt.Address%10000, raw, pt.Address%10000-1, pt.Address, pt.Address)
	return false
}

// GroupList names the profile's declared groups for a message, or says
// there are none.
func (pr *Profile) GroupList() string {
	if len(pr.Groups) == 0 {
		return "none declared"
	}
	return strings.Join(slices.Sorted(maps.Keys(pr.Groups)), ", ")
}

func keys[V any](m map[string]V) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

//go:embed profiles/*.yaml
var builtinProfiles embed.FS

// Library is a set of profiles by name.
type Library map[string]*Profile

// LoadLibrary returns the built-in profiles plus those in dirs (a profile in
// a dir replaces a built-in one of the same name).
func LoadLibrary(dirs ...string) (Library, error) {
	lib := Library{}
	var errs conf.Errors
	add := func(name string, data []byte) {
		p, err := ParseProfile(name, data)
		if err != nil {
			if fe, ok := err.(conf.Errors); ok {
				errs = append(errs, fe...)
				return
			}
			errs = append(errs, &conf.Error{File: name, Msg: err.Error()})
			return
		}
		lib[p.Name] = p
	}
	entries, err := fs.Glob(builtinProfiles, "profiles/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("built-in profiles: %w", err)
	}
	for _, e := range entries {
		data, err := builtinProfiles.ReadFile(e)
		if err != nil {
			return nil, fmt.Errorf("built-in profile %s: %w", e, err)
		}
		add("firmware-config/profile/"+e, data)
	}
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			return nil, fmt.Errorf("profile dir %s: %w", dir, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("profile %s: %w", f, err)
			}
			add(f, data)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return lib, nil
}

// Names lists the library's profiles, sorted.
func (l Library) Names() []string {
	ns := make([]string, 0, len(l))
	for n := range l {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}
