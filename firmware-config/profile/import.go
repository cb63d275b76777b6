package profile

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
)

// Columns are the header names of a manufacturer's register table, matched
// without regard to case or surrounding spaces. Name, Address and Type must
// be present; the others may be missing from the table.
type Columns struct {
	Name, Address, Type, Scale, Unit string
	// Register holds the table of each row (holding, input, coil,
	// discrete; also 3x/4x/0x/1x and FC3/FC4); without it every row is in
	// ImportOptions.Register.
	Register string
	// Description is copied into each point's description.
	Description string
}

// DefaultColumns are the header names Import looks for unless told others.
var DefaultColumns = Columns{Name: "name", Address: "address", Type: "type", Scale: "scale", Unit: "unit",
	Register: "register", Description: "description"}

// ImportOptions say what the register table does not: the profile's
// identity, and how to read the table.
type ImportOptions struct {
	Name, Class, Measurement, Manufacturer, Model string
	// Source cites the manufacturer document; empty writes a placeholder
	// that says to fill it in.
	Source    string
	ByteOrder string
	// Register is the table of rows without a register column.
	Register RegisterType
	// Refs: the address column holds Modicon references (40001 = holding
	// address 0) rather than 0-based protocol addresses.
	Refs    bool
	Comma   rune
	Columns Columns
}

// SourcePlaceholder is the source an imported profile gets when none is
// given: it validates, and says what to write there.
const SourcePlaceholder = "FILL IN: title, edition and section of the manufacturer's register table"

// Import turns a manufacturer's register table (CSV, one point per row,
// first row the header) into a profile YAML, and runs it through
// ParseProfile. Problems are conf.Errors located at the table's file and
// line (a row's column, or the option that was wrong); with any, no YAML
// is returned. Every point's line in the YAML is one row of the table.
func Import(file string, r io.Reader, o ImportOptions) ([]byte, error) {
	if o.Register == "" {
		o.Register = Holding
	}
	cr := csv.NewReader(r)
	if o.Comma != 0 {
		cr.Comma = o.Comma
	}
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var errs conf.Errors
	fail := func(line int, field, format string, a ...any) {
		errs = append(errs, &conf.Error{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("empty table: want a header row and one row per point")
		}
		fail(1, "", "%v", unwrapCSV(err))
		return nil, errs
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\uFEFF") // a spreadsheet's byte order mark
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	find := func(name string, required bool) int {
		i, ok := col[strings.ToLower(strings.TrimSpace(name))]
		if !ok {
			if required {
				fail(1, "", "no column %q (the header has %s); name it with -col-%s", name, quoteAll(header), columnFlag(name, o.Columns))
			}
			return -1
		}
		return i
	}
	c := o.Columns
	iName, iAddr, iType := find(c.Name, true), find(c.Address, true), find(c.Type, true)
	iScale, iUnit, iReg, iDesc := find(c.Scale, false), find(c.Unit, false), find(c.Register, false), find(c.Description, false)
	if len(errs) > 0 {
		return nil, errs
	}

	var y bytes.Buffer
	fmt.Fprintf(&y, "# Imported with fwconfig profile import from %s: check every point against the manual.\n", file)
	key := func(k, v string) {
		fmt.Fprintf(&y, "%s: %s\n", k, yamlScalar(v))
	}
	key("name", o.Name)
	key("class", o.Class)
	if o.Measurement != "" {
		key("measurement", o.Measurement)
	}
	if o.Manufacturer != "" {
		key("manufacturer", o.Manufacturer)
	}
	if o.Model != "" {
		key("model", o.Model)
	}
	if o.Source == "" {
		o.Source = SourcePlaceholder
	}
	key("source", o.Source)
	if o.ByteOrder != "" {
		key("byte_order", o.ByteOrder)
	}
	y.WriteString("points:\n")
	rowOf := map[int]int{} // point index -> table line
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				fail(pe.Line, "", "%v", pe.Err)
				continue
			}
			fail(0, "", "%v", err)
			break
		}
		at, _ := cr.FieldPos(0)
		if blank(rec) {
			continue
		}
		cell := func(i int) string {
			if i < 0 || i >= len(rec) {
				return ""
			}
			return strings.TrimSpace(rec[i])
		}
		n := len(errs)
		pt := importRow(func(field, format string, a ...any) { fail(at, field, format, a...) },
			cell(iName), cell(iAddr), cell(iType), cell(iScale), cell(iUnit), cell(iReg), cell(iDesc), o)
		if len(errs) > n {
			continue
		}
		rowOf[len(rowOf)] = at
		fmt.Fprintf(&y, "  - {%s}\n", pt)
	}
	if len(rowOf) == 0 && len(errs) == 0 {
		fail(0, "", "no points: the table has a header and no rows")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if _, err := ParseProfile(file, y.Bytes()); err != nil {
		var pe conf.Errors
		if !errors.As(err, &pe) {
			return nil, err
		}
		for _, e := range pe {
			errs = append(errs, locate(e, file, rowOf))
		}
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, errs
	}
	return y.Bytes(), nil
}

var pointIndex = regexp.MustCompile(`points\[(\d+)\]`)

// optionKeys are the top-level keys Import writes from its options, by the
// flag of fwconfig profile import that sets them.
var optionKeys = map[string]string{"name": "-name", "class": "-class", "measurement": "-measurement",
	"manufacturer": "-manufacturer", "model": "-model", "source": "-source", "byte_order": "-byte-order"}

// locate moves a problem the profile parser found in the generated YAML to
// the table row (or the option) it came from; a message naming another
// point (points[3]) names its line instead.
func locate(e *conf.Error, file string, rowOf map[int]int) *conf.Error {
	out := &conf.Error{File: file, Field: e.Field}
	out.Msg = pointIndex.ReplaceAllStringFunc(e.Msg, func(m string) string {
		i, _ := strconv.Atoi(pointIndex.FindStringSubmatch(m)[1])
		return fmt.Sprintf("line %d", rowOf[i])
	})
	if m := pointIndex.FindStringSubmatchIndex(e.Field); m != nil && m[0] == 0 {
		i, _ := strconv.Atoi(e.Field[m[2]:m[3]])
		out.Line, out.Field = rowOf[i], strings.TrimPrefix(e.Field[m[1]:], ".")
		return out
	}
	if flag, ok := optionKeys[e.Field]; ok {
		out.Field = flag
	}
	return out
}

// importRow makes one point's flow mapping from a row's cells, or reports
// what it cannot read.
func importRow(fail func(field, format string, a ...any), name, addr, typ, scale, unit, reg, desc string, o ImportOptions) string {
	var f []string
	add := func(k, v string) { f = append(f, k+": "+v) }
	pname := pointName(name)
	switch {
	case name == "":
		fail("name", "empty; every row needs a point name")
	case pname == "":
		fail("name", "%q has no ASCII letters or digits to make a point name of; give the table a column of ASCII names (-col-name)", name)
	}
	add("name", pname)
	table := o.Register
	if reg != "" {
		t, ok := registerAliases[strings.ToLower(reg)]
		if !ok {
			fail("register", "%q is not a register table; one of holding, input, coil, discrete (or 4x, 3x, 0x, 1x, FC3, FC4)", reg)
		}
		table = t
	}
	dt, length, ok := importType(typ)
	if !ok {
		if typ == "" {
			fail("type", "empty; every row needs a data type")
		} else {
			fail("type", "%q is not a data type; one of bool, int16, uint16, int32, uint32, int64, uint64, float32, float64, bcd16, bcd32, string(N) (and the usual spellings: float, u16, dint...)", typ)
		}
	}
	if o.Refs {
		if _, err := strconv.Atoi(addr); err != nil || addr == "" {
			fail("address", "%q is not a reference such as 40001", addr)
		}
		add("ref", yamlScalar(addr))
		if reg != "" {
			add("register", string(table))
		}
	} else {
		add("register", string(table))
		a, ok := importAddress(addr)
		if !ok {
			fail("address", "%q is not an address; write decimal (8198), hex (0x2006 or 2006H), or use -ref for 40001-style references", addr)
		}
		add("address", a)
	}
	add("type", string(dt))
	if dt == String {
		add("length", strconv.Itoa(length))
	}
	if scale != "" {
		s, ok := importScale(scale)
		switch {
		case !ok:
			fail("scale", "%q is not a number (write 0.1, ×0.1 or 1/10)", scale)
		case s != 1:
			add("scale", strconv.FormatFloat(s, 'g', -1, 64))
		}
	}
	if unit != "" {
		add("unit", yamlScalar(unit))
	}
	if strings.ToLower(name) != pname && pname != "" {
		desc = strings.TrimSpace(name + "; " + desc)
		desc = strings.TrimSuffix(desc, ";")
	}
	if desc != "" {
		add("description", yamlScalar(desc))
	}
	return strings.Join(f, ", ")
}

var registerAliases = map[string]RegisterType{
	"holding": Holding, "holding register": Holding, "4x": Holding, "fc3": Holding, "03": Holding,
	"input": Input, "input register": Input, "3x": Input, "fc4": Input, "04": Input,
	"coil": Coil, "0x": Coil, "fc1": Coil, "01": Coil,
	"discrete": Discrete, "discrete input": Discrete, "1x": Discrete, "fc2": Discrete, "02": Discrete,
}

// typeAliases are the spellings of manufacturers' tables for the data
// types (lower case, spaces removed).
var typeAliases = map[string]DataType{
	"bool": Bool, "bit": Bool, "boolean": Bool,
	"int16": Int16, "i16": Int16, "s16": Int16, "int": Int16, "short": Int16, "signed": Int16, "sint16": Int16,
	"uint16": Uint16, "u16": Uint16, "word": Uint16, "unsigned": Uint16, "uint": Uint16, "ushort": Uint16,
	"int32": Int32, "i32": Int32, "s32": Int32, "dint": Int32, "long": Int32, "sint32": Int32,
	"uint32": Uint32, "u32": Uint32, "dword": Uint32, "udint": Uint32, "ulong": Uint32,
	"int64": Int64, "i64": Int64, "s64": Int64, "lint": Int64,
	"uint64": Uint64, "u64": Uint64, "ulint": Uint64,
	"float32": Float32, "float": Float32, "real": Float32, "f32": Float32, "fp32": Float32, "single": Float32, "ieee754": Float32,
	"float64": Float64, "double": Float64, "f64": Float64, "fp64": Float64, "lreal": Float64,
	"bcd16": BCD16, "bcd": BCD16, "bcd32": BCD32,
}

var stringType = regexp.MustCompile(`^(?:string|ascii|char|str)\s*[\(\[]?\s*(\d+)\s*[\)\]]?$`)

// importType reads a type cell; a string's length (registers) is written
// string(8), string[8] or string 8.
func importType(s string) (DataType, int, bool) {
	l := strings.ToLower(strings.TrimSpace(s))
	if m := stringType.FindStringSubmatch(l); m != nil {
		n, _ := strconv.Atoi(m[1])
		return String, n, true
	}
	t, ok := typeAliases[strings.ReplaceAll(l, " ", "")]
	return t, 0, ok
}

// importAddress reads an address cell: decimal, 0x hex, or hex with the
// H suffix of many Chinese manuals (2006H). Hex stays hex in the YAML, as
// the manual wrote it.
func importAddress(s string) (string, bool) {
	l := strings.ToLower(s)
	hex := ""
	switch {
	case strings.HasPrefix(l, "0x"):
		hex = l[2:]
	case strings.HasSuffix(l, "h"):
		hex = l[:len(l)-1]
	}
	if hex != "" {
		n, err := strconv.ParseUint(hex, 16, 32)
		return fmt.Sprintf("0x%04X", n), err == nil
	}
	n, err := strconv.ParseUint(l, 10, 32)
	if err != nil {
		return "", false
	}
	// A leading zero would be octal in YAML; the number is decimal here.
	return strconv.FormatUint(n, 10), true
}

// importScale reads 0.1, ×0.1, x0.1, *0.1 or 1/10.
func importScale(s string) (float64, bool) {
	s = strings.TrimSpace(strings.TrimLeft(s, "×xX* "))
	if num, den, ok := strings.Cut(s, "/"); ok {
		a, err1 := strconv.ParseFloat(strings.TrimSpace(num), 64)
		b, err2 := strconv.ParseFloat(strings.TrimSpace(den), 64)
		return a / b, err1 == nil && err2 == nil && b != 0
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// pointName makes a point name of a table's name cell: lower case, runs of
// anything but letters, digits, - and . become one _, none at either end.
func pointName(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(r)
		default:
			under = true
		}
	}
	n := b.String()
	for len(n) > 64 {
		_, size := utf8.DecodeLastRuneInString(n)
		n = n[:len(n)-size]
	}
	return strings.Trim(n, "_")
}

// yamlScalar writes a string as one plain or quoted YAML scalar that reads
// back as that string.
func yamlScalar(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return `""`
	}
	var n yaml.Node
	n.SetString(s)
	n.Style = yaml.FlowStyle
	out, err := yaml.Marshal(&n)
	if err != nil || bytes.ContainsAny(bytes.TrimSpace(out), "\n,{}[]") {
		return strconv.Quote(s)
	}
	return string(bytes.TrimSpace(out))
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// columnFlag names the -col- flag that sets the column called name.
func columnFlag(name string, c Columns) string {
	switch name {
	case c.Name:
		return "name"
	case c.Address:
		return "address"
	}
	return "type"
}

func unwrapCSV(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
