package conf

// NameRule says in words what ValidName accepts, for error messages.
const NameRule = "letters, digits, - _ ., not starting with _, at most 64"

// ValidName is the one rule for every name that becomes an MQTT topic
// level or an InfluxDB tag value, measurement or field key: site, gateway,
// device, profile, class, point, boiler, meter and account names. It is
// plain ASCII (no control, bidi or invisible character, nothing a tag would
// need escaped), 1 to 64 characters of A-Z a-z 0-9 _ - ., and does not
// start with _, which InfluxDB and Flux reserve for their own columns
// (_field, _measurement, _time, _value).
func ValidName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '_' {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
		default:
			return false
		}
	}
	return true
}

// ValidPointName is the rule for a point name: a valid name that is not
// "time", InfluxDB's timestamp column, under which a field is dropped
// without an error while the rest of the point is written (the _ of the
// collector's own fields, _seq and _bad, ValidName already refuses).
func ValidPointName(s string) bool { return ValidName(s) && s != "time" }

// Unique checks a list's names: each present, following ValidName (unless
// AnyName) and not repeating an earlier one. The zero value is ready; What
// names the kind of name in messages ("device name").
type Unique struct {
	What string
	// AnyName skips the name rule, for names that never leave the file.
	AnyName bool
	seen    map[string]string
}

// Check reports a problem with the name at item+"."+field (e.g. item
// "devices[1]", field "name"; field "" when the item is the name) and
// whether the name is good.
func (u *Unique) Check(d *Document, item, field, name string) bool {
	at := item
	if field != "" {
		at = join(item, field)
	}
	switch {
	case name == "":
		d.Errorf(at, "missing; every entry needs a %s", u.What)
		return false
	case !u.AnyName && !ValidName(name):
		d.Errorf(at, "%q is not a valid %s (%s)", name, u.What, NameRule)
		return false
	}
	if first, dup := u.seen[name]; dup {
		d.Errorf(at, "duplicate %s %q (also %s)", u.What, name, first)
		return false
	}
	if u.seen == nil {
		u.seen = map[string]string{}
	}
	u.seen[name] = item
	return true
}

// Seen reports whether Check accepted name.
func (u *Unique) Seen(name string) bool {
	_, ok := u.seen[name]
	return ok
}
