package promtext

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// appendFamily writes one family: HELP, TYPE and its samples, which are
// sorted already.
func appendFamily(b []byte, d *Desc, ms []metric) []byte {
	if d.help != "" {
		b = append(b, "# HELP "...)
		b = append(b, d.name...)
		b = append(b, ' ')
		b = appendEscaped(b, d.help, false)
		b = append(b, '\n')
	}
	b = append(b, "# TYPE "...)
	b = append(b, d.name...)
	b = append(b, ' ')
	b = append(b, d.typ...)
	b = append(b, '\n')
	for i := range ms {
		m := &ms[i]
		switch d.typ {
		case typeHistogram:
			for _, p := range m.points {
				b = appendSample(b, d, "_bucket", m.labels, "le", p.bound, p.value)
			}
			b = appendSample(b, d, "_sum", m.labels, "", 0, m.sum)
			b = appendSample(b, d, "_count", m.labels, "", 0, float64(m.count))
		case typeSummary:
			for _, p := range m.points {
				b = appendSample(b, d, "", m.labels, "quantile", p.bound, p.value)
			}
			b = appendSample(b, d, "_sum", m.labels, "", 0, m.sum)
			b = appendSample(b, d, "_count", m.labels, "", 0, float64(m.count))
		default:
			b = appendSample(b, d, "", m.labels, "", 0, m.value)
		}
	}
	return b
}

// appendSample writes one line: name, labels sorted by name, then extra
// (le or quantile) when not empty, and the value.
func appendSample(b []byte, d *Desc, suffix string, values []string, extra string, extraValue, v float64) []byte {
	b = append(b, d.name...)
	b = append(b, suffix...)
	if len(values) > 0 || extra != "" {
		b = append(b, '{')
		for n, i := range d.order {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, d.labels[i]...)
			b = append(b, `="`...)
			b = appendEscaped(b, values[i], true)
			b = append(b, '"')
		}
		if extra != "" {
			if len(values) > 0 {
				b = append(b, ',')
			}
			b = append(b, extra...)
			b = append(b, `="`...)
			b = appendFloat(b, extraValue)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, v)
	return append(b, '\n')
}

// appendEscaped escapes backslash and newline, and in a label value
// (quoted) the double quote too. Invalid UTF-8 becomes U+FFFD: Prometheus
// rejects the whole page for one invalid label value.
func appendEscaped(b []byte, s string, quoted bool) []byte {
	for _, r := range s {
		switch {
		case r == '\\':
			b = append(b, `\\`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '"' && quoted:
			b = append(b, `\"`...)
		default:
			// Ranging over a string turns each invalid byte into
			// utf8.RuneError.
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

// appendFloat writes v as Prometheus reads it: +Inf, -Inf, NaN, integers
// without exponent while float64 holds them exactly, the shortest
// round-trip form otherwise.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case v == math.Trunc(v) && math.Abs(v) <= 1<<53:
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
