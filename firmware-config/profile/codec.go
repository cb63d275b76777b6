package profile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// byteOrder says how the bytes of a multi-register value sit on the wire,
// named by where bytes A (most significant) .. D land, as most meter manuals do.
type byteOrder uint8

const (
	byteOrderABCD byteOrder = iota // big-endian bytes, big-endian words
	byteOrderCDAB                  // words swapped ("little-endian word order")
	byteOrderBADC                  // bytes swapped inside each word
	byteOrderDCBA                  // fully little-endian
)

func parseByteOrder(s string) (byteOrder, bool) {
	switch strings.ToUpper(s) {
	case "ABCD", "AB", "ABCDEFGH":
		return byteOrderABCD, true
	case "CDAB", "GHEFCDAB":
		return byteOrderCDAB, true
	case "BADC", "BA", "BADCFEHG":
		return byteOrderBADC, true
	case "DCBA", "HGFEDCBA":
		return byteOrderDCBA, true
	}
	return 0, false
}

// ErrNotAvailable marks a raw value the device uses for "no reading".
var ErrNotAvailable = errors.New("device reports value not available")

// toBigEndian puts the registers' bytes into most-significant-first order.
func (o byteOrder) toBigEndian(regs []uint16) []byte {
	return o.putBigEndian(make([]byte, 2*len(regs)), regs)
}

// putBigEndian is toBigEndian into b (len 2 × len(regs)), so that a number
// of at most four registers decodes without allocating.
func (o byteOrder) putBigEndian(b []byte, regs []uint16) []byte {
	n := len(regs)
	for i, r := range regs {
		w := i
		if o == byteOrderCDAB || o == byteOrderDCBA {
			w = n - 1 - i
		}
		hi, lo := byte(r>>8), byte(r)
		if o == byteOrderBADC || o == byteOrderDCBA {
			hi, lo = lo, hi
		}
		b[2*w], b[2*w+1] = hi, lo
	}
	return b
}

// fromBigEndian is the inverse of toBigEndian.
func (o byteOrder) fromBigEndian(b []byte) []uint16 {
	n := len(b) / 2
	regs := make([]uint16, n)
	for i := range regs {
		w := i
		if o == byteOrderCDAB || o == byteOrderDCBA {
			w = n - 1 - i
		}
		hi, lo := b[2*w], b[2*w+1]
		if o == byteOrderBADC || o == byteOrderDCBA {
			hi, lo = lo, hi
		}
		regs[i] = uint16(hi)<<8 | uint16(lo)
	}
	return regs
}

// Decode turns the point's registers into its engineering value: a number (raw × scale + offset), a bool or a string. For
// coils and discrete inputs regs holds one element, 0 or 1. A point with
// scale_from needs DecodeWith.
func (p *Point) Decode(regs []uint16) (Value, error) {
	return p.DecodeWith(regs, 1)
}

// DecodeWith decodes with the scale multiplied by factor, the value of the
// point's scale_from source mapped by ScaleFrom.Factor:
// raw × scale × factor + offset.
func (p *Point) DecodeWith(regs []uint16, factor float64) (Value, error) {
	if len(regs) != p.Words() {
		return Value{}, fmt.Errorf("point %s: got %d registers, want %d", p.Name, len(regs), p.Words())
	}
	if p.Register.IsBit() {
		return Value{Kind: KindBool, Bool: regs[0] != 0}, nil
	}
	if p.Type == Bool {
		return Value{Kind: KindBool, Bool: regs[0]>>uint(*p.Bit)&1 == 1}, nil
	}
	if p.Type == String {
		return Value{Kind: KindString, Str: strings.TrimRight(string(p.order.toBigEndian(regs)), "\x00 ")}, nil
	}
	var arr [8]byte
	b := p.order.putBigEndian(arr[:2*len(regs)], regs)
	var raw float64
	var rawInt int64
	isInt := true
	switch p.Type {
	case Int16:
		rawInt = int64(int16(binary.BigEndian.Uint16(b)))
	case Uint16:
		rawInt = int64(binary.BigEndian.Uint16(b))
	case Int32:
		rawInt = int64(int32(binary.BigEndian.Uint32(b)))
	case Uint32:
		rawInt = int64(binary.BigEndian.Uint32(b))
	case Int64:
		rawInt = int64(binary.BigEndian.Uint64(b))
	case Uint64:
		u := binary.BigEndian.Uint64(b)
		if p.notAvailable(int64(u)) {
			return Value{}, fmt.Errorf("point %s: raw 0x%X: %w", p.Name, u, ErrNotAvailable)
		}
		return p.number(float64(u), factor)
	case BCD16, BCD32:
		v, err := fromBCD(b)
		if err != nil {
			return Value{}, fmt.Errorf("point %s: %w", p.Name, err)
		}
		rawInt = v
	case Float32:
		isInt = false
		bits := binary.BigEndian.Uint32(b)
		if p.notAvailable(int64(bits)) {
			return Value{}, fmt.Errorf("point %s: raw 0x%08X: %w", p.Name, bits, ErrNotAvailable)
		}
		raw = decimal32(math.Float32frombits(bits))
	case Float64:
		isInt = false
		bits := binary.BigEndian.Uint64(b)
		if p.notAvailable(int64(bits)) {
			return Value{}, fmt.Errorf("point %s: raw 0x%016X: %w", p.Name, bits, ErrNotAvailable)
		}
		raw = math.Float64frombits(bits)
	default:
		return Value{}, fmt.Errorf("point %s: unknown type %q", p.Name, p.Type)
	}
	if isInt {
		if p.notAvailable(rawInt) {
			return Value{}, fmt.Errorf("point %s: raw %d (0x%X): %w", p.Name, rawInt, uint64(rawInt)&rawMask(p.Type), ErrNotAvailable)
		}
		raw = float64(rawInt)
	}
	if math.IsNaN(raw) || math.IsInf(raw, 0) {
		return Value{}, fmt.Errorf("point %s: raw %v: %w", p.Name, raw, ErrNotAvailable)
	}
	return p.number(raw, factor)
}

// number is the scaled reading; a scale that carries it past the range of
// a float64 is an error, not an infinity on the wire.
func (p *Point) number(raw, factor float64) (Value, error) {
	v := p.scaled(raw, factor)
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return Value{}, fmt.Errorf("point %s: raw %v × scale %v overflows", p.Name, raw, p.ScaleFactor()*factor)
	}
	return Value{Kind: KindNumber, Num: v}, nil
}

// scaled applies scale, factor and offset. A decimal scale such as 0.1 is
// applied as a division by 10, which yields the double nearest the decimal
// reading (184.1, not 184.10000000000002 from 1841 × 0.1).
func (p *Point) scaled(raw, factor float64) float64 {
	s := p.ScaleFactor() * factor
	if inv := math.Round(1 / s); s < 1 && s > 0 && math.Abs(inv*s-1) < 1e-12 {
		return raw/inv + p.Offset
	}
	return raw*s + p.Offset
}

// decimal32 widens a float32 to the float64 nearest its shortest decimal
// form: a meter's 230.1 V is sent as the float32 nearest 230.1, and widening
// those bits exactly would report 230.10000610351562.
func decimal32(f float32) float64 {
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], float64(f), 'g', -1, 32)
	// ParseFloat keeps no reference to its argument (its errors carry a
	// copy), so the stack buffer can be read in place instead of copied.
	v, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil {
		return float64(f) // NaN and infinities are handled by the caller
	}
	return v
}

func rawMask(t DataType) uint64 {
	switch dataWords[t] {
	case 1:
		return 0xFFFF
	case 2:
		return 0xFFFFFFFF
	}
	return math.MaxUint64
}

// notAvailable compares a raw value with the sentinels. Sentinels are written
// as the register's unsigned pattern (0x8000, 0xFFFF), so compare both views.
func (p *Point) notAvailable(raw int64) bool {
	mask := rawMask(p.Type)
	for _, s := range p.NotAvailable {
		if raw == s || uint64(raw)&mask == uint64(s)&mask {
			return true
		}
	}
	return false
}

func fromBCD(b []byte) (int64, error) {
	var v int64
	for _, x := range b {
		hi, lo := x>>4, x&0x0F
		if hi > 9 || lo > 9 {
			// A copy, so that b (a stack buffer of the caller) does not escape.
			return 0, fmt.Errorf("raw 0x%X is not BCD", slices.Clone(b))
		}
		v = v*100 + int64(hi)*10 + int64(lo)
	}
	return v, nil
}

// Encode is the inverse of Decode: the registers a device holds for an
// engineering value. The simulator serves profiles with it. Numeric values
// are rounded to the nearest raw step; out-of-range values are an error.
func (p *Point) Encode(v any) ([]uint16, error) {
	return p.EncodeWith(v, 1)
}

// EncodeWith is the inverse of DecodeWith, for points with scale_from.
func (p *Point) EncodeWith(v any, factor float64) ([]uint16, error) {
	if p.Register.IsBit() || p.Type == Bool {
		bv, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("point %s: want bool, got %T", p.Name, v)
		}
		var r uint16
		if bv {
			r = 1
			if !p.Register.IsBit() {
				r <<= uint(*p.Bit)
			}
		}
		return []uint16{r}, nil
	}
	if p.Type == String {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("point %s: want string, got %T", p.Name, v)
		}
		b := make([]byte, 2*p.Length)
		if len(s) > len(b) {
			return nil, fmt.Errorf("point %s: %q longer than %d bytes", p.Name, s, len(b))
		}
		copy(b, s)
		return p.order.fromBigEndian(b), nil
	}
	f, ok := v.(float64)
	if !ok {
		return nil, fmt.Errorf("point %s: want float64, got %T", p.Name, v)
	}
	raw := (f - p.Offset) / (p.ScaleFactor() * factor)
	b := make([]byte, 2*p.Words())
	rangeErr := func() error { return fmt.Errorf("point %s: %v does not fit %s", p.Name, f, p.Type) }
	r := math.Round(raw)
	switch p.Type {
	case Int16:
		if r < math.MinInt16 || r > math.MaxInt16 {
			return nil, rangeErr()
		}
		binary.BigEndian.PutUint16(b, uint16(int16(r)))
	case Uint16:
		if r < 0 || r > math.MaxUint16 {
			return nil, rangeErr()
		}
		binary.BigEndian.PutUint16(b, uint16(r))
	case Int32:
		if r < math.MinInt32 || r > math.MaxInt32 {
			return nil, rangeErr()
		}
		binary.BigEndian.PutUint32(b, uint32(int32(r)))
	case Uint32:
		if r < 0 || r > math.MaxUint32 {
			return nil, rangeErr()
		}
		binary.BigEndian.PutUint32(b, uint32(r))
	case Int64:
		if r < math.MinInt64 || r >= math.MaxInt64 {
			return nil, rangeErr()
		}
		binary.BigEndian.PutUint64(b, uint64(int64(r)))
	case Uint64:
		if r < 0 || r >= math.MaxUint64 {
			return nil, rangeErr()
		}
		binary.BigEndian.PutUint64(b, uint64(r))
	case BCD16, BCD32:
		max := 9999.0
		if p.Type == BCD32 {
			max = 99999999
		}
		if r < 0 || r > max {
			return nil, rangeErr()
		}
		n := int64(r)
		for i := len(b) - 1; i >= 0; i-- {
			b[i] = byte(n%10) | byte(n/10%10)<<4
			n /= 100
		}
	case Float32:
		binary.BigEndian.PutUint32(b, math.Float32bits(float32(raw)))
	case Float64:
		binary.BigEndian.PutUint64(b, math.Float64bits(raw))
	default:
		return nil, fmt.Errorf("point %s: unknown type %q", p.Name, p.Type)
	}
	return p.order.fromBigEndian(b), nil
}
