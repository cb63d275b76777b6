package conf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DurationHint is how every duration error says what to write.
const DurationHint = "write e.g. 1s, 500ms, 1m"

// Duration is a time.Duration written as "30s", "500ms" or "2h". It
// remembers whether the file set it, so a default can tell "absent" from
// "0s". Negative durations are refused: no setting of ours has one.
type Duration struct {
	time.Duration
	set bool
}

// D is a Duration set to v, as if the file had written it.
func D(v time.Duration) Duration { return Duration{Duration: v, set: true} }

// IsSet reports whether the file wrote the duration.
func (d Duration) IsSet() bool { return d.set }

// Default gives an unset duration the value v (one built in code with a
// value keeps it).
func (d *Duration) Default(v time.Duration) {
	if !d.set && d.Duration == 0 {
		d.Duration = v
	}
}

// UnmarshalYAML reads the scalar; Decode reports its error at the value.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration (%s), found %s", DurationHint, kindNames[n.Kind])
	}
	return d.UnmarshalText([]byte(n.Value))
}

// UnmarshalText reads a duration from text (JSON strings, flags); "" leaves
// it unset, as files and requests have always written a default.
func (d *Duration) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (%s)", b, DurationHint)
	}
	if v < 0 {
		return fmt.Errorf("%q is negative; want a duration of 0 or more (%s)", b, DurationHint)
	}
	d.Duration, d.set = v, true
	return nil
}

// MarshalText writes the duration as time.Duration prints it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// ByteSize is a size on disk written as a number of bytes or with a unit:
// decimal (kB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB).
type ByteSize struct {
	Bytes int64
	set   bool
}

// IsSet reports whether the file wrote the size.
func (b ByteSize) IsSet() bool { return b.set }

// Default gives an unset size the value v (one built in code with a value
// keeps it).
func (b *ByteSize) Default(v int64) {
	if !b.set && b.Bytes == 0 {
		b.Bytes = v
	}
}

// UnmarshalYAML reads the scalar; Decode reports its error at the value.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a size such as 500MB, found %s", kindNames[n.Kind])
	}
	if n.Value == "" {
		return nil // unset, as a Duration
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	b.Bytes, b.set = v, true
	return nil
}

// ParseByteSize reads a size as ByteSize does.
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult := map[string]float64{
		"": 1, "B": 1,
		"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if mult == 0 || err != nil || v < 0 || v*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size (write e.g. 500MB, 2GiB or a number of bytes)", s)
	}
	return int64(v * mult), nil
}

// TimeHint is how every time error says what to write.
const TimeHint = "write RFC 3339, e.g. 2026-01-15T00:00:00+08:00"

// Time is an instant written in RFC 3339 ("2026-01-15T14:00:00+08:00").
type Time struct {
	time.Time
	set bool
}

// IsSet reports whether the file wrote the time.
func (t Time) IsSet() bool { return t.set }

// UnmarshalYAML reads the scalar; Decode reports its error at the value.
func (t *Time) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a time (%s), found %s", TimeHint, kindNames[n.Kind])
	}
	if n.Value == "" {
		return nil // unset, as a Duration
	}
	v, err := time.Parse(time.RFC3339, n.Value)
	if err != nil {
		return fmt.Errorf("%q is not an RFC 3339 time (%s)", n.Value, TimeHint)
	}
	t.Time, t.set = v, true
	return nil
}
