package conf

import (
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"plant-a", true}, {"gw_01", true}, {"a.b", true}, {"A9", true}, {strings.Repeat("x", 64), true},
		{"", false}, {strings.Repeat("x", 65), false},
		{"_field", false}, // InfluxDB's own columns start with _
		{"plant a", false}, {"a/b", false}, {"+", false}, {"$collector", false}, {"é", false}, {"a\u200bb", false},
	} {
		if got := ValidName(tc.name); got != tc.ok {
			t.Errorf("ValidName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestValidPointName(t *testing.T) {
	for name, ok := range map[string]bool{"o2": true, "Time": true, "time_s": true, "time": false, "_seq": false, "": false} {
		if got := ValidPointName(name); got != ok {
			t.Errorf("ValidPointName(%q) = %v, want %v", name, got, ok)
		}
	}
}

func TestUnique(t *testing.T) {
	var c struct {
		Devices []struct {
			Name string `yaml:"name"`
		} `yaml:"devices"`
	}
	d, err := Decode("f.yaml", []byte("devices:\n  - name: a\n  - name: a\n  - {}\n  - name: _x\n  - name: b\n"), &c)
	if err != nil {
		t.Fatal(err)
	}
	u := Unique{What: "device name"}
	var ok []bool
	for i, dev := range c.Devices {
		ok = append(ok, u.Check(d, elem("devices", i), "name", dev.Name))
	}
	want := `f.yaml:3: devices[1].name: duplicate device name "a" (also devices[0])
f.yaml:4: devices[2].name: missing; every entry needs a device name
f.yaml:5: devices[3].name: "_x" is not a valid device name (letters, digits, - _ ., not starting with _, at most 64)`
	if got := d.Err().Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if !ok[0] || ok[1] || ok[2] || ok[3] || !ok[4] || !u.Seen("b") || u.Seen("_x") {
		t.Errorf("Check results %v", ok)
	}
	any := Unique{What: "boiler name", AnyName: true}
	if !any.Check(d, "boilers[0]", "name", "_x") || any.Check(d, "boilers[1]", "name", "_x") {
		t.Error("AnyName still checks presence and repeats, not the rule")
	}
}
