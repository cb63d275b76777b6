package profile

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

// point builds a validated single-point profile from a YAML flow mapping.
func point(t *testing.T, spec string) *Point {
	t.Helper()
	y := fmt.Sprintf("name: t\nclass: plc\nsource: test\npoints:\n  - %s\n", spec)
	p, err := ParseProfile("test.yaml", []byte(y))
	if err != nil {
		t.Fatalf("profile %s: %v", spec, err)
	}
	return &p.Points[0]
}

func TestDecodeEveryTypeAndOrder(t *testing.T) {
	tests := []struct {
		spec string
		regs []uint16
		want any
	}{
		// 0x12345678 = 305419896 shows where each byte lands.
		{"{name: a, register: holding, address: 0, type: uint32, byte_order: ABCD}", []uint16{0x1234, 0x5678}, 305419896.0},
		{"{name: a, register: holding, address: 0, type: uint32, byte_order: CDAB}", []uint16{0x5678, 0x1234}, 305419896.0},
		{"{name: a, register: holding, address: 0, type: uint32, byte_order: BADC}", []uint16{0x3412, 0x7856}, 305419896.0},
		{"{name: a, register: holding, address: 0, type: uint32, byte_order: DCBA}", []uint16{0x7856, 0x3412}, 305419896.0},
		// float32 123.456 = 0x42F6E979.
		{"{name: a, register: input, address: 0, type: float32, byte_order: ABCD}", []uint16{0x42F6, 0xE979}, 123.456},
		{"{name: a, register: input, address: 0, type: float32, byte_order: CDAB}", []uint16{0xE979, 0x42F6}, 123.456},
		{"{name: a, register: input, address: 0, type: float32, byte_order: BADC}", []uint16{0xF642, 0x79E9}, 123.456},
		{"{name: a, register: input, address: 0, type: float32, byte_order: DCBA}", []uint16{0x79E9, 0xF642}, 123.456},
		{"{name: a, register: holding, address: 0, type: int32}", []uint16{0xFFFF, 0xFFFE}, -2.0},
		{"{name: a, register: holding, address: 0, type: int16, scale: 0.1}", []uint16{0xFF38}, -20.0},
		{"{name: a, register: holding, address: 0, type: int16, byte_order: BA}", []uint16{0x38FF}, -200.0},
		{"{name: a, register: holding, address: 0, type: uint16, scale: 0.01, offset: -40}", []uint16{5000}, 10.0},
		// 0x0001020304050607 = 283686952306183 in the 64-bit orders (below
		// 2^53, so float64 holds it exactly; larger totals lose low digits).
		{"{name: a, register: holding, address: 0, type: int64, byte_order: ABCDEFGH}", []uint16{0x0001, 0x0203, 0x0405, 0x0607}, 283686952306183.0},
		{"{name: a, register: holding, address: 0, type: int64, byte_order: GHEFCDAB}", []uint16{0x0607, 0x0405, 0x0203, 0x0001}, 283686952306183.0},
		{"{name: a, register: holding, address: 0, type: uint64, byte_order: BADCFEHG}", []uint16{0x0100, 0x0302, 0x0504, 0x0706}, 283686952306183.0},
		{"{name: a, register: holding, address: 0, type: uint64, byte_order: HGFEDCBA}", []uint16{0x0706, 0x0504, 0x0302, 0x0100}, 283686952306183.0},
		{"{name: a, register: holding, address: 0, type: int64}", []uint16{0xFFFF, 0xFFFF, 0xFFFF, 0xFF85}, -123.0},
		// float64 1.5 = 0x3FF8000000000000.
		{"{name: a, register: holding, address: 0, type: float64}", []uint16{0x3FF8, 0, 0, 0}, 1.5},
		{"{name: a, register: holding, address: 0, type: float64, byte_order: DCBA}", []uint16{0, 0, 0, 0xF83F}, 1.5},
		{"{name: a, register: holding, address: 0, type: bcd16}", []uint16{0x1234}, 1234.0},
		{"{name: a, register: holding, address: 0, type: bcd32, scale: 0.01}", []uint16{0x0012, 0x3456}, 1234.56},
		{"{name: a, register: holding, address: 0, type: bcd32, byte_order: CDAB}", []uint16{0x3456, 0x0012}, 123456.0},
		{"{name: a, register: holding, address: 0, type: string, length: 3}", []uint16{0x4142, 0x3132, 0x0000}, "AB12"},
		{"{name: a, register: holding, address: 0, type: string, length: 2, byte_order: BADC}", []uint16{0x4241, 0x3231}, "AB12"},
		{"{name: a, register: holding, address: 0, type: bool, bit: 3}", []uint16{0x0008}, true},
		{"{name: a, register: holding, address: 0, type: bool, bit: 2}", []uint16{0x0008}, false},
		{"{name: a, register: coil, address: 0, type: bool}", []uint16{1}, true},
		{"{name: a, register: discrete, address: 0, type: bool}", []uint16{0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			p := point(t, tt.spec)
			v, err := p.Decode(tt.regs)
			if err != nil {
				t.Fatalf("Decode(%04X): %v", tt.regs, err)
			}
			got := v.Any()
			if f, ok := tt.want.(float64); ok {
				g, ok := got.(float64)
				if !ok || math.Abs(g-f) > 1e-9*math.Max(1, math.Abs(f)) {
					t.Fatalf("Decode(%04X) = %v, want %v", tt.regs, got, f)
				}
			} else if got != tt.want {
				t.Fatalf("Decode(%04X) = %#v, want %#v", tt.regs, got, tt.want)
			}
			// Encode is Decode's inverse: the simulator relies on it.
			regs, err := p.Encode(got)
			if err != nil {
				t.Fatalf("Encode(%v): %v", got, err)
			}
			if fmt.Sprint(regs) != fmt.Sprint(tt.regs) && tt.spec != "{name: a, register: holding, address: 0, type: bool, bit: 2}" {
				t.Fatalf("Encode(%v) = %04X, want %04X", got, regs, tt.regs)
			}
		})
	}
}

func TestDecodeNotAvailable(t *testing.T) {
	tests := []struct {
		spec string
		regs []uint16
	}{
		{"{name: a, register: input, address: 0, type: uint16, not_available: [0xFFFF]}", []uint16{0xFFFF}},
		{"{name: a, register: input, address: 0, type: int16, not_available: [0x8000]}", []uint16{0x8000}},
		{"{name: a, register: input, address: 0, type: int16, not_available: [-32768]}", []uint16{0x8000}},
		{"{name: a, register: input, address: 0, type: int32, not_available: [0x7FFFFFFF]}", []uint16{0x7FFF, 0xFFFF}},
		{"{name: a, register: input, address: 0, type: float32}", []uint16{0x7FC0, 0x0000}},  // NaN
		{"{name: a, register: input, address: 0, type: float64}", []uint16{0x7FF0, 0, 0, 0}}, // +Inf
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			v, err := point(t, tt.spec).Decode(tt.regs)
			if !errors.Is(err, ErrNotAvailable) {
				t.Fatalf("Decode(%04X) = %v, %v; want ErrNotAvailable", tt.regs, v, err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	p := point(t, "{name: a, register: holding, address: 0, type: bcd16}")
	if _, err := p.Decode([]uint16{0x12A4}); err == nil {
		t.Error("0x12A4 decoded as BCD")
	}
	if _, err := p.Decode([]uint16{1, 2}); err == nil {
		t.Error("two registers decoded as bcd16")
	}
	q := point(t, "{name: a, register: holding, address: 0, type: uint16, scale: 0.1}")
	if _, err := q.Encode(7000.0); err == nil {
		t.Error("7000 encoded into uint16 ×0.1")
	}
	if _, err := q.Encode(-1.0); err == nil {
		t.Error("-1 encoded into uint16")
	}
}

func FuzzDecode(f *testing.F) {
	types := []string{"int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "bcd16", "bcd32"}
	orders := []string{"ABCD", "CDAB", "BADC", "DCBA"}
	f.Add(uint8(0), uint8(0), uint16(1), uint16(2), uint16(3), uint16(4))
	f.Add(uint8(6), uint8(1), uint16(0x7FC0), uint16(0), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, ti, oi uint8, a, b, c, d uint16) {
		spec := fmt.Sprintf("{name: a, register: holding, address: 0, type: %s, byte_order: %s, scale: 0.5}", types[int(ti)%len(types)], orders[int(oi)%len(orders)])
		p := point(t, spec)
		regs := []uint16{a, b, c, d}[:p.Words()]
		v, err := p.Decode(regs)
		if err != nil {
			return
		}
		f, ok := v.Any().(float64)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
			t.Fatalf("%s: Decode(%04X) = %v", spec, regs, v)
		}
	})
}

// A decimal scale yields the decimal reading an auditor expects to see.
func TestDecodeDecimalScale(t *testing.T) {
	for _, tt := range []struct {
		spec string
		raw  uint16
		want string
	}{
		{"{name: a, register: input, address: 0, type: int16, scale: 0.1}", 1841, "184.1"},
		{"{name: a, register: input, address: 0, type: uint16, scale: 0.001}", 999, "0.999"},
		{"{name: a, register: input, address: 0, type: uint16, scale: 0.01}", 805, "8.05"},
		{"{name: a, register: input, address: 0, type: uint16, scale: 0.3}", 3, "0.8999999999999999"},
	} {
		v, err := point(t, tt.spec).Decode([]uint16{tt.raw})
		if err != nil || fmt.Sprint(v) != tt.want {
			t.Errorf("%s: Decode(%d) = %v, %v; want %s", tt.spec, tt.raw, v, err, tt.want)
		}
	}
}

// A float32 reads as the decimal the meter displays (230.1), not as the
// exact widening of its bits (230.10000610351562); scale applies after.
func TestDecodeFloat32Decimal(t *testing.T) {
	for _, tt := range []struct {
		spec string
		f    float32
		want string
	}{
		{"{name: a, register: input, address: 0, type: float32}", 230.1, "230.1"},
		{"{name: a, register: input, address: 0, type: float32}", 0.95, "0.95"},
		{"{name: a, register: input, address: 0, type: float32}", 123456.7, "123456.7"},
		{"{name: a, register: input, address: 0, type: float32, scale: 0.001}", 7040, "7.04"},
		{"{name: a, register: input, address: 0, type: float32, byte_order: CDAB}", -12.5, "-12.5"},
	} {
		p := point(t, tt.spec)
		regs, err := p.Encode(float64(tt.f) * p.ScaleFactor())
		if err != nil {
			t.Fatal(err)
		}
		v, err := p.Decode(regs)
		if err != nil || fmt.Sprint(v) != tt.want {
			t.Errorf("%s: float32 %v decoded as %v, %v; want %s", tt.spec, tt.f, v, err, tt.want)
		}
	}
}
