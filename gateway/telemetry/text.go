package telemetry

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
)

// Field keys a point may not be named. The collector writes its own fields
// beside the points, all starting with ReservedPrefix (FieldSeq, FieldBad),
// and InfluxDB drops a field named FieldTime without an error while it
// writes the rest of the point, so such a value would be counted as stored
// and be lost. ReservedField is the one test; the collector's point builder
// uses these names for its own fields.
const (
	FieldSeq       = "_seq" // the message's sequence number
	FieldBad       = "_bad" // "point: reason; ..." for the values that were not good
	FieldTime      = "time" // InfluxDB's timestamp column
	ReservedPrefix = "_"
)

// ReservedField reports whether name is a field key no point may use.
// InfluxDB compares "time" case-sensitively, so "Time" is an ordinary name.
func ReservedField(name string) bool {
	return name == FieldTime || strings.HasPrefix(name, ReservedPrefix)
}

// ValidPointName reports whether s can name a point: a valid name that is
// not a reserved field key. The rule is conf.ValidPointName, the one the
// profiles check their point names with.
func ValidPointName(s string) bool { return conf.ValidPointName(s) }

// MaxBoot and MaxErr bound a boot id and an err text, in bytes.
const (
	MaxBoot = 64
	MaxErr  = 256
)

// checkBoot: 1..MaxBoot printable ASCII characters without spaces. The
// gateway sends 16 hex digits; the id is logged and stored in events, where
// a space, a control or a bidi character would make it ambiguous.
func checkBoot(s string) error {
	if s == "" || len(s) > MaxBoot {
		return fmt.Errorf("boot id %q: want 1 to %d bytes, got %d", s, MaxBoot, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("boot id %q: byte %d (0x%02X) is not printable ASCII other than space", s, i, c)
		}
	}
	return nil
}

// unsafeRune reports characters that no text of a message may hold: control
// characters (NUL, newline, DEL, C1), format characters (bidi overrides and
// isolates such as U+202E, zero-width characters, the BOM) and the line and
// paragraph separators. They would forge lines in logs, reorder what an
// operator reads on the console, or hide characters in InfluxDB.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

// CheckText reports the first character of s that unsafeRune refuses. A
// value's err and other free texts of a message must pass it.
func CheckText(s string) error {
	for i, r := range s {
		if unsafeRune(r) {
			return fmt.Errorf("character %U at byte %d is a control or invisible format character", r, i)
		}
	}
	return nil
}

// CleanText makes s fit for a value's err: invalid UTF-8 becomes U+FFFD,
// tab, newline and carriage return become a space (error texts from
// devices and libraries can span lines), any other character CheckText
// refuses becomes its escape \uXXXX (so the text still shows it was
// there), and the result is cut to at most max bytes on a character
// boundary. The gateway builds every err text with it.
func CleanText(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		// range yields U+FFFD for each invalid byte.
		var next string
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			next = " "
		case unsafeRune(r):
			next = fmt.Sprintf(`\u%04X`, r)
		default:
			next = string(r)
		}
		if b.Len()+len(next) > max {
			break
		}
		b.WriteString(next)
	}
	return b.String()
}
