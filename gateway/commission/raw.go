package commission

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

// Orders are the four byte orders of a 32-bit value, in the order shown.
var Orders = []string{"ABCD", "CDAB", "BADC", "DCBA"}

// RawReport is a raw read, like mbpoll's: registers as read, and what they
// mean in every interpretation (or in the one asked for).
type RawReport struct {
	Bus      string
	Unit     int
	Register profile.RegisterType
	Start    int
	Words    []uint16
	Took     time.Duration
	// Type and Order, when given, select one interpretation.
	Type  profile.DataType
	Order string
}

// ParseAddress reads a register address: decimal, or hex with 0x. A
// leading zero is not octal: 0100 is 100.
func ParseAddress(s string) (int, error) {
	s = strings.TrimSpace(s)
	var v uint64
	var err error
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		v, err = strconv.ParseUint(h, 16, 32)
	} else {
		v, err = strconv.ParseUint(s, 10, 32)
	}
	if err != nil || v > 65535 {
		return 0, fmt.Errorf("%q is not an address 0..65535 (decimal, or hex as 0x2006)", s)
	}
	return int(v), nil
}

// ModiconHint says when a start address looks like a Modicon reference
// (40001 for holding register 0), the commonest commissioning mistake.
func ModiconHint(r profile.RegisterType, start int) string {
	digit := map[profile.RegisterType]int{profile.Holding: 4, profile.Input: 3}[r]
	if digit == 0 || start/10000 != digit || start%10000 == 0 {
		return ""
	}
	return fmt.Sprintf("%d looks like a Modicon reference (%s register %d counted from 1, protocol address %d); reading protocol address %d as asked",
		start, r, start%10000, start%10000-1, start)
}

// pointFor is a point that decodes words at i as type t in order o.
func pointFor(t profile.DataType, order string, words int) (*profile.Point, error) {
	p := &profile.Point{Name: "raw", Register: profile.Holding, Type: t}
	if t == profile.String {
		p.Length = words
	}
	if order == "" {
		order = "ABCD"
	}
	return p.WithByteOrder(order)
}

// TypeWords is how many registers a value of type t spans (string: all).
func TypeWords(t profile.DataType, count int) (int, error) {
	switch t {
	case profile.Int16, profile.Uint16, profile.BCD16:
		return 1, nil
	case profile.Int32, profile.Uint32, profile.Float32, profile.BCD32:
		return 2, nil
	case profile.Int64, profile.Uint64, profile.Float64:
		return 4, nil
	case profile.String:
		return count, nil
	}
	return 0, fmt.Errorf("%q is not a type; one of int16, uint16, int32, uint32, int64, uint64, float32, float64, bcd16, bcd32, string", t)
}

// typed decodes the words as the report's type, one value per span.
func (rep *RawReport) typed() []rawValue {
	n, _ := TypeWords(rep.Type, len(rep.Words))
	p, err := pointFor(rep.Type, rep.Order, n)
	var out []rawValue
	for i := 0; n > 0 && i+n <= len(rep.Words); i += n {
		rv := rawValue{Address: rep.Start + i, Raw: rawWords(rep.Words[i:i+n], false)}
		if err != nil {
			rv.Error = err.Error()
		} else if v, err := p.Decode(rep.Words[i : i+n]); err != nil {
			rv.Error = strings.TrimPrefix(err.Error(), "point raw: ")
		} else if v.Kind == profile.KindString {
			rv.Value = v.Str
		} else {
			rv.Value = v.Num
		}
		out = append(out, rv)
	}
	return out
}

type rawValue struct {
	Address int      `json:"address"`
	Raw     []string `json:"raw"`
	Value   any      `json:"value,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// pairValues are a register pair's 32-bit interpretations in one order.
type pairValues struct {
	Order   string  `json:"order"`
	Uint32  uint32  `json:"uint32"`
	Int32   int32   `json:"int32"`
	Float32 float64 `json:"-"`
	Float   any     `json:"float32"` // a number, or "NaN", "+Inf", "-Inf"
}

// pair interprets words a, b (as read) in byte order o.
func pair(a, b uint16, o string) pairValues {
	var in [4]byte
	binary.BigEndian.PutUint16(in[0:], a)
	binary.BigEndian.PutUint16(in[2:], b)
	var x [4]byte
	switch o {
	case "ABCD":
		x = in
	case "CDAB":
		x = [4]byte{in[2], in[3], in[0], in[1]}
	case "BADC":
		x = [4]byte{in[1], in[0], in[3], in[2]}
	case "DCBA":
		x = [4]byte{in[3], in[2], in[1], in[0]}
	}
	u := binary.BigEndian.Uint32(x[:])
	f := math.Float32frombits(u)
	pv := pairValues{Order: o, Uint32: u, Int32: int32(u), Float32: float64(f), Float: floatText(f)}
	if !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) {
		pv.Float, _ = strconv.ParseFloat(floatText(f), 64)
	}
	return pv
}

// floatText is a float32 in its shortest decimal form.
func floatText(f float32) string {
	if math.IsNaN(float64(f)) {
		return "NaN"
	}
	return strconv.FormatFloat(float64(f), 'g', -1, 32)
}

// WriteText prints the registers (address hex and decimal, hex, u16, i16)
// and, without a type, every pair of neighbouring registers as u32, i32
// and float32 in the four byte orders; with a type, the values of it.
func (rep *RawReport) WriteText(w io.Writer) {
	bits := rep.Register.IsBit()
	unit := "register"
	if bits {
		unit = "bit"
	}
	fmt.Fprintf(w, "%s unit %d %s 0x%04X (%d), %s: answered in %s\n", rep.Bus, rep.Unit, rep.Register, rep.Start, rep.Start,
		plural(len(rep.Words), unit), rep.Took.Round(100*time.Microsecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if bits {
		fmt.Fprintln(tw, "ADDRESS\t\tVALUE\t")
		for i, v := range rep.Words {
			fmt.Fprintf(tw, "0x%04X\t%d\t%d\t\n", rep.Start+i, rep.Start+i, v)
		}
		tw.Flush()
		return
	}
	if rep.Type != "" {
		order := rep.Order
		if order == "" {
			order = "ABCD"
		}
		fmt.Fprintf(tw, "ADDRESS\t\tRAW\t%s %s\t\n", rep.Type, order)
		for _, v := range rep.typed() {
			val := v.Error
			switch x := v.Value.(type) {
			case float64:
				val = Num(x)
			case string:
				val = fmt.Sprintf("%q", x)
			}
			fmt.Fprintf(tw, "0x%04X\t%d\t%s\t%s\t\n", v.Address, v.Address, strings.Join(v.Raw, " "), val)
		}
		tw.Flush()
		return
	}
	fmt.Fprintln(tw, "ADDRESS\t\tHEX\tUINT16\tINT16\t")
	for i, v := range rep.Words {
		fmt.Fprintf(tw, "0x%04X\t%d\t%04X\t%d\t%d\t\n", rep.Start+i, rep.Start+i, v, v, int16(v))
	}
	tw.Flush()
	if len(rep.Words) < 2 {
		return
	}
	fmt.Fprintln(w, "\npairs from each address (registers n, n+1) in the four byte orders:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ADDRESS\t\tORDER\tUINT32\tINT32\tFLOAT32\t")
	for i := 0; i+1 < len(rep.Words); i++ {
		for j, o := range Orders {
			pv := pair(rep.Words[i], rep.Words[i+1], o)
			addr, dec := "", ""
			if j == 0 {
				addr, dec = fmt.Sprintf("0x%04X", rep.Start+i), fmt.Sprint(rep.Start+i)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t\n", addr, dec, o, pv.Uint32, pv.Int32, floatText(float32(pv.Float32)))
		}
	}
	tw.Flush()
}

// WriteJSON prints the raw read as one JSON object.
func (rep *RawReport) WriteJSON(w io.Writer) error {
	type reg struct {
		Address    int    `json:"address"`
		AddressHex string `json:"address_hex"`
		Hex        string `json:"hex"`
		Uint16     uint16 `json:"uint16"`
		Int16      int16  `json:"int16"`
	}
	type pr struct {
		Address int          `json:"address"`
		Orders  []pairValues `json:"orders"`
	}
	out := struct {
		Bus       string     `json:"bus"`
		Unit      int        `json:"unit"`
		Register  string     `json:"register"`
		Start     int        `json:"start"`
		TookMS    float64    `json:"took_ms"`
		Registers []reg      `json:"registers"`
		Pairs     []pr       `json:"pairs,omitempty"`
		Type      string     `json:"type,omitempty"`
		Order     string     `json:"byte_order,omitempty"`
		Values    []rawValue `json:"values,omitempty"`
	}{Bus: rep.Bus, Unit: rep.Unit, Register: string(rep.Register), Start: rep.Start,
		TookMS: float64(rep.Took.Microseconds()) / 1000, Registers: []reg{}}
	for i, v := range rep.Words {
		out.Registers = append(out.Registers, reg{rep.Start + i, fmt.Sprintf("0x%04X", rep.Start+i), fmt.Sprintf("%04X", v), v, int16(v)})
	}
	switch {
	case rep.Type != "":
		out.Type, out.Order, out.Values = string(rep.Type), rep.Order, rep.typed()
		if out.Order == "" {
			out.Order = "ABCD"
		}
	case !rep.Register.IsBit():
		for i := 0; i+1 < len(rep.Words); i++ {
			p := pr{Address: rep.Start + i}
			for _, o := range Orders {
				p.Orders = append(p.Orders, pair(rep.Words[i], rep.Words[i+1], o))
			}
			out.Pairs = append(out.Pairs, p)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
