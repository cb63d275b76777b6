package telemetry

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Kind says which field of a Value holds its reading.
type Kind uint8

const (
	KindNone   Kind = iota // no reading: the value is bad or stale
	KindNumber             // Num
	KindBool               // Bool
	KindString             // Str
)

// Value is one point's reading. A good value holds a number, a bool or a
// string, as Kind says; a bad or stale one holds none, and Err says why.
// Reset marks a counter (a cumulative total) that went down since the
// previous sample: the meter was reset or replaced, so the difference is
// not consumption.
//
// The reading is a typed field rather than an interface so that a poll
// does not allocate per value: the gateway reads hundreds of points a
// second on boxes with a few MB to spare. On the wire it is "v", a JSON
// number, bool or string.
type Value struct {
	Kind  Kind
	Num   float64
	Bool  bool
	Str   string
	Q     Quality
	Err   string
	Reset bool
}

// Number is a good numeric value.
func Number(f float64) Value { return Value{Kind: KindNumber, Num: f, Q: Good} }

// Boolean is a good bool value.
func Boolean(b bool) Value { return Value{Kind: KindBool, Bool: b, Q: Good} }

// Text is a good string value.
func Text(s string) Value { return Value{Kind: KindString, Str: s, Q: Good} }

// BadValue is a value that could not be read, with the reason.
func BadValue(reason string) Value { return Value{Q: Bad, Err: reason} }

// Any returns the reading as a float64, bool or string, or nil when the
// value holds none; for APIs that take an interface (InfluxDB fields).
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

// String is the reading as fmt prints a float64, bool or string; a value
// without one prints its quality and reason.
func (v Value) String() string {
	switch v.Kind {
	case KindNumber:
		return strconv.FormatFloat(v.Num, 'g', -1, 64)
	case KindBool:
		return strconv.FormatBool(v.Bool)
	case KindString:
		return v.Str
	}
	if v.Err != "" {
		return string(v.Q) + ": " + v.Err
	}
	return string(v.Q)
}

// MarshalJSON writes the wire form, as Encoder does.
func (v Value) MarshalJSON() ([]byte, error) {
	return appendValue(nil, &v), nil
}

// errValueField and its wrappers come from UnmarshalJSON; the decoder
// reports them as invalid messages.
var errValueField = errors.New("value")

// UnmarshalJSON reads the wire form strictly: only the fields v, q, err
// and reset (spelled exactly), v a number, bool, string or null. Range and
// length checks are Validate's. encoding/json hands it one complete,
// syntactically valid JSON value, which is what the scanner below relies on.
func (v *Value) UnmarshalJSON(b []byte) error {
	i := skipSpace(b, 0)
	if i < len(b) && b[i] == 'n' {
		return nil // null: leave the value as it is, like encoding/json
	}
	if i >= len(b) || b[i] != '{' {
		return fmt.Errorf("%w: want an object, got %.20q", errValueField, b[i:])
	}
	*v = Value{}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return fmt.Errorf("%w: unterminated object", errValueField)
		}
		switch b[i] {
		case '}':
			return nil
		case ',':
			i = skipSpace(b, i+1)
		}
		keyEnd := endOfValue(b, i)
		key, err := jsonString(b[i:keyEnd])
		if err != nil {
			return fmt.Errorf("%w: field name: %w", errValueField, err)
		}
		i = skipSpace(b, keyEnd) + 1 // past ':'
		i = skipSpace(b, i)
		end := endOfValue(b, i)
		tok := b[i:end]
		i = end
		switch key {
		case "v":
			if err := v.setReading(tok); err != nil {
				return err
			}
		case "q":
			if tok[0] == 'n' {
				continue
			}
			s, err := jsonString(tok)
			if err != nil {
				return fmt.Errorf("%w: q: %w", errValueField, err)
			}
			v.Q = quality(s)
		case "err":
			if tok[0] == 'n' {
				continue
			}
			if v.Err, err = jsonString(tok); err != nil {
				return fmt.Errorf("%w: err: %w", errValueField, err)
			}
		case "reset":
			switch tok[0] {
			case 't':
				v.Reset = true
			case 'f', 'n':
				v.Reset = false
			default:
				return fmt.Errorf("%w: reset: want true or false, got %.20s", errValueField, tok)
			}
		default:
			return fmt.Errorf("%w: unknown field %q", errValueField, key)
		}
	}
}

// check reports what makes a good value's reading unfit for the wire.
func (v *Value) check() error {
	switch v.Kind {
	case KindNone:
		return errors.New("good value without v")
	case KindNumber:
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			return errors.New("value is not finite")
		}
	case KindString:
		if len(v.Str) > 256 {
			return errors.New("string value longer than 256 bytes")
		}
	}
	return nil
}

// setReading sets the reading from the JSON token of "v".
func (v *Value) setReading(tok []byte) error {
	v.Kind, v.Num, v.Bool, v.Str = KindNone, 0, false, ""
	switch c := tok[0]; {
	case c == 'n':
	case c == 't' || c == 'f':
		v.Kind, v.Bool = KindBool, c == 't'
	case c == '"':
		s, err := jsonString(tok)
		if err != nil {
			return fmt.Errorf("%w: v: %w", errValueField, err)
		}
		v.Kind, v.Str = KindString, s
	case c == '-' || (c >= '0' && c <= '9'):
		// A JSON number is valid Go float syntax. Out of range it parses
		// to ±Inf, which Validate rejects as not finite.
		f, err := strconv.ParseFloat(string(tok), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("%w: v: %w", errValueField, err)
		}
		v.Kind, v.Num = KindNumber, f
	default:
		return fmt.Errorf("%w: v: want a number, bool or string, got %.20s", errValueField, tok)
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// endOfValue returns the index just past the JSON value starting at b[i],
// which must be valid JSON.
func endOfValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return len(b)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = endOfValue(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j
}

// jsonString decodes a JSON string token; only one with escapes goes
// through encoding/json.
func jsonString(tok []byte) (string, error) {
	if len(tok) < 2 || tok[0] != '"' || tok[len(tok)-1] != '"' {
		return "", fmt.Errorf("want a string, got %.20s", tok)
	}
	inner := tok[1 : len(tok)-1]
	for _, c := range inner {
		if c == '\\' || c >= 0x80 {
			// Escapes, and UTF-8 that encoding/json would repair.
			var s string
			err := json.Unmarshal(tok, &s)
			return s, err
		}
	}
	return string(inner), nil
}
