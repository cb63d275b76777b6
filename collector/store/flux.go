package store

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Flux query text. Every query the collector builds quotes its strings and
// writes its time literals and common filters with these, so there is one
// place that knows Flux's quoting. Names reaching a query are validated
// first (telemetry.ValidName); quoting is the second wall.

// FluxString quotes s as a Flux string literal: `"` and `\` are escaped,
// and `$` is written as \x24, because Flux interpolates "${...}" inside
// string literals — and "\${" does not escape it after a preceding "$" in
// Flux 0.65 (InfluxDB 1.8), while \x24 always does. Control characters
// become \xNN, so a literal never spans lines. (Go's %q is not Flux
// quoting: it leaves "${" alone and writes \u00e9-style escapes Flux 0.65
// does not read.)
func FluxString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '$':
			b.WriteString(`\x24`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// FluxTime writes t as a Flux time literal (RFC 3339, UTC).
func FluxTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Eq is the Flux predicate `r.column == "value"`: column is one the
// collector writes (_measurement, _field, a tag), value any string.
func Eq(column, value string) string { return member(column) + " == " + FluxString(value) }

// OneOf is the predicate that column equals one of values, in parentheses
// when there are several; false when there are none.
func OneOf(column string, values ...string) string {
	switch len(values) {
	case 0:
		return "false"
	case 1:
		return Eq(column, values[0])
	}
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = Eq(column, v)
	}
	return "(" + strings.Join(parts, " or ") + ")"
}

// Matches is, like OneOf, the predicate that column equals one of values,
// written as one regular expression when there are several: InfluxDB 1.8
// evaluates a chain of `or` at a cost that grows faster than its length
// (for 200 sites several times the expression's), so queries for many
// sites use this.
func Matches(column string, values ...string) string {
	if len(values) <= 1 {
		return OneOf(column, values...)
	}
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = regexLiteral(v)
	}
	return member(column) + " =~ /^(?:" + strings.Join(parts, "|") + ")$/"
}

// regexLiteral is s matched literally inside a Flux regular expression
// literal: metacharacters escaped, `/` (which ends the literal) as \/,
// control characters as \x{NN}.
func regexLiteral(s string) string {
	var b strings.Builder
	for _, r := range regexp.QuoteMeta(s) {
		switch {
		case r == '/':
			b.WriteString(`\/`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x{%02x}`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// And joins predicates with and, leaving out empty ones.
func And(preds ...string) string {
	var parts []string
	for _, p := range preds {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " and ")
}

// member is r.column. Columns come from the code, never from input: one
// that is not a Flux identifier is a bug.
func member(column string) string {
	for i, c := range column {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			panic(fmt.Sprintf("store: Flux column %q is not an identifier", column))
		}
	}
	if column == "" {
		panic("store: empty Flux column")
	}
	return "r." + column
}
