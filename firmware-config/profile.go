package fwconfig

import (
	"embed"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

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
	Address   int      `yaml:"address"`
	Type      DataType `yaml:"type"`
	ByteOrder string   `yaml:"byte_order"`
	// Bit selects one bit (0 = least significant) of a register for type bool.
	Bit *int `yaml:"bit"`
	// Length is the register count of a string.
	Length int      `yaml:"length"`
	Scale  *float64 `yaml:"scale"`
	Offset float64  `yaml:"offset"`
	Unit   string   `yaml:"unit"`
	// Counter marks a cumulative total (kWh, t) that only increases.
	Counter bool `yaml:"counter"`
	// NotAvailable lists raw values that mean "no reading" (e.g. 0x8000);
	// they become quality bad, never a number. NaN always does.
	NotAvailable []int64 `yaml:"not_available"`
	Description  string  `yaml:"description"`

	order byteOrder
}

// Profile is the register map of one device model.
type Profile struct {
	Name string `yaml:"name"`
	// Class is the device class, used as the InfluxDB measurement.
	Class        string `yaml:"class"`
	Manufacturer string `yaml:"manufacturer"`
	Model        string `yaml:"model"`
	// Source cites the manufacturer document the register map comes from.
	Source      string  `yaml:"source"`
	Description string  `yaml:"description"`
	ByteOrder   string  `yaml:"byte_order"`
	Points      []Point `yaml:"points"`

	File string `yaml:"-"`
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

var deviceClasses = map[string]bool{
	"boiler": true, "electricity_meter": true, "steam_meter": true, "heat_meter": true,
	"gas_meter": true, "water_meter": true, "o2_analyzer": true, "plc": true, "coal_scale": true,
}

// ParseProfile reads and validates one profile file.
func ParseProfile(file string, data []byte) (*Profile, error) {
	var p Profile
	d, err := ParseYAML(file, data, &p)
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

func (pr *Profile) validate(d *Document) {
	if !validName(pr.Name) {
		d.Errorf("name", "%q is not a valid profile name (letters, digits, - _ .)", pr.Name)
	}
	if !deviceClasses[pr.Class] {
		d.Errorf("class", "%q is not a device class; one of %s", pr.Class, keys(deviceClasses))
	}
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
	names := map[string]int{}
	type span struct {
		lo, hi int
		name   string
	}
	used := map[RegisterType][]span{}
	for i := range pr.Points {
		pt := &pr.Points[i]
		at := fmt.Sprintf("points[%d]", i)
		if !validName(pt.Name) {
			d.Errorf(at+".name", "%q is not a valid point name (letters, digits, - _ ., not starting with _)", pt.Name)
		} else if j, dup := names[pt.Name]; dup {
			d.Errorf(at+".name", "duplicate point name %q (also points[%d])", pt.Name, j)
		} else {
			names[pt.Name] = i
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
		if (pt.Type == Bool || pt.Type == String) && (pt.Scale != nil || pt.Offset != 0) {
			d.Errorf(at+".scale", "scale and offset apply to numeric types only")
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
}

// validName: a point, device or profile name becomes a topic level, a JSON
// key and an InfluxDB tag or field, so the wire contract's rule applies.
func validName(s string) bool { return telemetry.ValidName(s) }

func keys[V any](m map[string]V) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

//go:embed profiles/*.yaml
var builtinProfiles embed.FS

// Library is a set of profiles by name.
type Library map[string]*Profile

// LoadLibrary returns the built-in profiles plus those in dirs (a profile in
// a dir replaces a built-in one of the same name).
func LoadLibrary(dirs ...string) (Library, error) {
	lib := Library{}
	var errs FieldErrors
	add := func(name string, data []byte) {
		p, err := ParseProfile(name, data)
		if err != nil {
			if fe, ok := err.(FieldErrors); ok {
				errs = append(errs, fe...)
				return
			}
			errs = append(errs, &FieldError{File: name, Msg: err.Error()})
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
		add("firmware-config/"+e, data)
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
