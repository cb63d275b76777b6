package telemetry

import (
	"errors"
	"strconv"
)

// decodeFast reads a telemetry message in the form the Encoder writes (any
// JSON whitespace, fields in any order) without reflection: decoding is
// the collector's main cost when it drains a backlog, and encoding/json
// spent most of it on reflection and allocation. It returns ok only for a
// payload that decodeWellFormed would decode to the same message; anything
// it is not sure of (null, a repeated or unknown field, a number where
// encoding/json would refuse or round it, invalid JSON) it leaves to
// decodeWellFormed and the probing path of Decode, which tell the reasons
// apart. FuzzDecode holds it to that. payload must be valid UTF-8.
func decodeFast(payload []byte) (*Message, bool) {
	s := scanner{b: payload}
	m := new(Message)
	if !s.consume('{') {
		return nil, false
	}
	var seen uint8
	for n := 0; ; n++ {
		key, end, ok := s.member(n)
		if !ok {
			return nil, false
		}
		if end {
			break
		}
		var bit uint8
		switch string(key) {
		case "v":
			bit = 1 << 0
			v, ok := s.uint(Version)
			if !ok || v != Version {
				return nil, false
			}
			m.V = Version
		case "site":
			bit = 1 << 1
			m.Site, ok = s.string()
		case "gateway":
			bit = 1 << 2
			m.Gateway, ok = s.string()
		case "seq":
			bit = 1 << 3
			m.Seq, ok = s.uint(1<<64 - 1)
		case "boot":
			bit = 1 << 4
			m.Boot, ok = s.string()
		case "historical":
			bit = 1 << 5
			m.Historical, ok = s.bool()
		case "samples":
			bit = 1 << 6
			m.Samples, ok = s.samples()
		default:
			return nil, false
		}
		if !ok || seen&bit != 0 {
			return nil, false
		}
		seen |= bit
	}
	// v must be there: without it encoding/json leaves 0, not Version.
	if seen&1 == 0 {
		return nil, false
	}
	s.space()
	if s.i != len(s.b) {
		return nil, false
	}
	return m, true
}

// scanner walks a JSON text; every method skips the whitespace before
// what it reads and returns ok false at anything it does not expect.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// consume reads the byte c.
func (s *scanner) consume(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// member reads the key of an object's next member and the colon after
// it, n members after the object's '{'; end is true at the closing '}'.
// The key is returned as written: one with an escape is not ok.
func (s *scanner) member(n int) (key []byte, end, ok bool) {
	if s.consume('}') {
		return nil, true, true
	}
	if n > 0 && !s.consume(',') {
		return nil, false, false
	}
	key, ok = s.rawString()
	if !ok || !s.consume(':') {
		return nil, false, false
	}
	return key, false, true
}

// rawString reads a string without escapes and returns its bytes.
func (s *scanner) rawString() ([]byte, bool) {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			raw := s.b[s.i+1 : j]
			s.i = j + 1
			return raw, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// string reads a string. One with escapes (the Encoder escapes <, > and
// &) goes through encoding/json, which refuses a malformed one.
func (s *scanner) string() (string, bool) {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false
	}
	escaped := false
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			tok := s.b[s.i : j+1]
			s.i = j + 1
			if !escaped {
				return string(tok[1 : len(tok)-1]), true
			}
			str, err := jsonString(tok)
			return str, err == nil
		case c == '\\':
			escaped = true
			j++ // the escaped byte, which may be a quote
		case c < 0x20:
			return "", false
		}
	}
	return "", false
}

// uint reads a non-negative JSON integer up to max; a fraction, an
// exponent or a sign is not ok (encoding/json refuses them for an integer
// field).
func (s *scanner) uint(max uint64) (uint64, bool) {
	s.space()
	start := s.i
	var n uint64
	for ; s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9'; s.i++ {
		d := uint64(s.b[s.i] - '0')
		if d > max || n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	switch digits := s.i - start; {
	case digits == 0, digits > 1 && s.b[start] == '0':
		return 0, false
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, false
	}
	return n, true
}

// literal reads the word w (true, false).
func (s *scanner) literal(w string) bool {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return false
	}
	s.i += len(w)
	return true
}

func (s *scanner) bool() (bool, bool) {
	s.space()
	if s.literal("true") {
		return true, true
	}
	return false, s.literal("false")
}

// number reads a JSON number and returns its text.
func (s *scanner) number() ([]byte, bool) {
	s.space()
	b, start := s.b, s.i
	j := start
	digits := func() bool {
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j > k
	}
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case !digits():
		return nil, false
	}
	if j < len(b) && b[j] == '.' {
		j++
		if !digits() {
			return nil, false
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if !digits() {
			return nil, false
		}
	}
	s.i = j
	return b[start:j], true
}

// samples reads a non-empty array of samples.
func (s *scanner) samples() ([]Sample, bool) {
	if !s.consume('[') {
		return nil, false
	}
	var out []Sample
	for {
		if len(out) > 0 {
			if s.consume(']') {
				return out, true
			}
			if !s.consume(',') {
				return nil, false
			}
		}
		out = append(out, Sample{})
		if !s.sample(&out[len(out)-1]) {
			return nil, false
		}
	}
}

func (s *scanner) sample(smp *Sample) bool {
	if !s.consume('{') {
		return false
	}
	var seen uint8
	for n := 0; ; n++ {
		key, end, ok := s.member(n)
		if !ok {
			return false
		}
		if end {
			return true
		}
		var bit uint8
		switch string(key) {
		case "device":
			bit = 1 << 0
			smp.Device, ok = s.string()
		case "profile":
			bit = 1 << 1
			smp.Profile, ok = s.string()
		case "class":
			bit = 1 << 2
			smp.Class, ok = s.string()
		case "ts":
			bit = 1 << 3
			var ts uint64
			ts, ok = s.uint(1<<63 - 1)
			smp.TS = int64(ts)
		case "values":
			bit = 1 << 4
			smp.Values, ok = s.values()
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
}

// namedValue is a value read before the map is made, so that the map is
// made at its size at once.
type namedValue struct {
	name string
	v    Value
}

// values reads a sample's values: a repeated name keeps its last value,
// as encoding/json does.
func (s *scanner) values() (map[string]Value, bool) {
	if !s.consume('{') {
		return nil, false
	}
	var buf [32]namedValue
	read := buf[:0]
	for n := 0; ; n++ {
		key, end, ok := s.member(n)
		if !ok {
			return nil, false
		}
		if end {
			break
		}
		read = append(read, namedValue{name: string(key)})
		if !s.value(&read[len(read)-1].v) {
			return nil, false
		}
	}
	out := make(map[string]Value, len(read))
	for i := range read {
		out[read[i].name] = read[i].v
	}
	return out, true
}

// value reads what Value.UnmarshalJSON reads, save null and repeated
// fields.
func (s *scanner) value(v *Value) bool {
	if !s.consume('{') {
		return false
	}
	var seen uint8
	for n := 0; ; n++ {
		key, end, ok := s.member(n)
		if !ok {
			return false
		}
		if end {
			return true
		}
		var bit uint8
		switch string(key) {
		case "v":
			bit = 1 << 0
			ok = s.reading(v)
		case "q":
			bit = 1 << 1
			v.Q, ok = s.quality()
		case "err":
			bit = 1 << 2
			v.Err, ok = s.string()
		case "reset":
			bit = 1 << 3
			v.Reset, ok = s.bool()
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
}

// reading reads "v": a number, bool or string, as setReading sets it.
func (s *scanner) reading(v *Value) bool {
	s.space()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == 't' || c == 'f':
		b, ok := s.bool()
		v.Kind, v.Bool = KindBool, b
		return ok
	case c == '"':
		str, ok := s.string()
		v.Kind, v.Str = KindString, str
		return ok
	}
	tok, ok := s.number()
	if !ok {
		return false
	}
	// Out of range it parses to ±Inf, which Validate rejects as not finite.
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return false
	}
	v.Kind, v.Num = KindNumber, f
	return true
}

// quality reads a quality without making a string of the usual three.
func (s *scanner) quality() (Quality, bool) {
	at := s.i
	if raw, ok := s.rawString(); ok {
		switch string(raw) {
		case string(Good):
			return Good, true
		case string(Bad):
			return Bad, true
		case string(Stale):
			return Stale, true
		}
	}
	s.i = at
	q, ok := s.string()
	return quality(q), ok
}

// quality interns the three qualities: a decoded value of good quality
// costs no string.
func quality(s string) Quality {
	switch Quality(s) {
	case Good:
		return Good
	case Bad:
		return Bad
	case Stale:
		return Stale
	}
	return Quality(s)
}
