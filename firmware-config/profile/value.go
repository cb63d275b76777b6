package profile

import "strconv"

// Kind says which field of a Value holds its reading.
type Kind uint8

const (
	KindNone   Kind = iota // the zero Value: nothing decoded
	KindNumber             // Num
	KindBool               // Bool
	KindString             // Str
)

// Value is a point's decoded reading: a number (raw × scale + offset), a
// bool or a string, as Kind says. It is a typed struct, not an interface,
// so that decoding does not allocate per value; the gateway turns it into
// the value it publishes (gateway/telemetry) where it builds the sample.
type Value struct {
	Kind Kind
	Num  float64
	Bool bool
	Str  string
}

// Any returns the reading as a float64, bool or string, or nil when the
// value holds none.
func (v Value) Any() any {
	switch v.Kind {
	case KindNumber:
		return v.Num
	case KindBool:
		return v.Bool
	case KindString:
		return v.Str
	}
	return nil
}

// String is the reading as fmt prints a float64, bool or string; "none"
// when there is none.
func (v Value) String() string {
	switch v.Kind {
	case KindNumber:
		return strconv.FormatFloat(v.Num, 'g', -1, 64)
	case KindBool:
		return strconv.FormatBool(v.Bool)
	case KindString:
		return v.Str
	}
	return "none"
}
