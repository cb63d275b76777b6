package telemetry

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Encoder writes telemetry messages in the wire format, byte for byte what
// encoding/json writes for them (fields in struct order, value names
// sorted), without reflection and reusing its buffers: the gateway encodes
// every poll of every group, and json.Marshal cost it several allocations
// per value. An Encoder is not safe for concurrent use.
type Encoder struct {
	buf  []byte
	keys []string
}

// Encode returns the message's wire form. The slice is the encoder's and
// valid until the next call. A number that is not finite has no JSON form;
// it is written as a bad value (the poller never produces one).
func (e *Encoder) Encode(m *Message) []byte {
	b := append(e.buf[:0], `{"v":`...)
	b = strconv.AppendInt(b, int64(m.V), 10)
	b = append(b, `,"site":`...)
	b = appendString(b, m.Site)
	b = append(b, `,"gateway":`...)
	b = appendString(b, m.Gateway)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, m.Seq, 10)
	b = append(b, `,"boot":`...)
	b = appendString(b, m.Boot)
	if m.Historical {
		b = append(b, `,"historical":true`...)
	}
	b = append(b, `,"samples":`...)
	if m.Samples == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range m.Samples {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.appendSample(b, &m.Samples[i])
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	e.buf = b
	return b
}

func (e *Encoder) appendSample(b []byte, s *Sample) []byte {
	b = append(b, `{"device":`...)
	b = appendString(b, s.Device)
	b = append(b, `,"profile":`...)
	b = appendString(b, s.Profile)
	b = append(b, `,"class":`...)
	b = appendString(b, s.Class)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, s.TS, 10)
	b = append(b, `,"values":`...)
	if s.Values == nil {
		return append(b, "null}"...)
	}
	e.keys = e.keys[:0]
	for k := range s.Values {
		e.keys = append(e.keys, k)
	}
	slices.Sort(e.keys)
	b = append(b, '{')
	for i, k := range e.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		v := s.Values[k]
		b = appendValue(b, &v)
	}
	return append(b, "}}"...)
}

// appendValue writes {"v":...,"q":...,"err":...,"reset":true}, omitting
// what encoding/json's omitempty would.
func appendValue(b []byte, v *Value) []byte {
	b = append(b, '{')
	switch v.Kind {
	case KindNumber:
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			bad := BadValue("value is not finite")
			return appendValue(b[:len(b)-1], &bad)
		}
		b = append(b, `"v":`...)
		b = appendFloat(b, v.Num)
		b = append(b, ',')
	case KindBool:
		b = append(b, `"v":`...)
		b = strconv.AppendBool(b, v.Bool)
		b = append(b, ',')
	case KindString:
		b = append(b, `"v":`...)
		b = appendString(b, v.Str)
		b = append(b, ',')
	}
	b = append(b, `"q":`...)
	b = appendString(b, string(v.Q))
	if v.Err != "" {
		b = append(b, `,"err":`...)
		b = appendString(b, v.Err)
	}
	if v.Reset {
		b = append(b, `,"reset":true`...)
	}
	return append(b, '}')
}

// appendFloat formats like encoding/json: the shortest decimal that reads
// back exactly, in exponent form only below 1e-6 or from 1e21.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 → 1e-7, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string escaped as encoding/json does:
// quotes, backslashes and control characters, <, > and & (HTML-safe), the
// line separators U+2028 and U+2029, and invalid UTF-8 as U+FFFD. Device
// strings and error texts can hold any byte.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
