package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

// Every shipped profile that can be identified (a model register or
// plausible ranges), served by the simulator from the same profile, is the
// profile gateway scan names first for its unit.
func TestScanNamesShippedProfiles(t *testing.T) {
	t.Parallel()
	lib, err := profile.LoadLibrary()
	if err != nil {
		t.Fatal(err)
	}
	needsBoiler := map[string]bool{"boiler": true, "plc": true, "o2_analyzer": true, "coal_scale": true}
	var devices strings.Builder
	want := map[int]string{}
	unit := 0
	for _, name := range lib.Names() {
		p := lib[name]
		if !p.Identifiable() {
			continue
		}
		unit++
		want[unit] = name
		extra := ", rated: 50"
		if needsBoiler[p.Class] {
			extra = ", boiler: b1"
		}
		fmt.Fprintf(&devices, "      - {name: d%d, unit_id: %d, profile: %s%s}\n", unit, unit, name, extra)
	}
	if unit < 4 {
		t.Fatalf("%d identifiable shipped profiles, want at least 4", unit)
	}
	addrs := commissionSim(t, "  - listen: 127.0.0.1:0\n    devices:\n"+devices.String())
	code, out, errs := runCmd(t, scanCmd, "-address", addrs[0], "-units", fmt.Sprintf("1-%d", unit), "-timeout", "300ms", "-json")
	var res scanJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("scan: exit %d, %v\n%s%s", code, err, out, errs)
	}
	for _, u := range res.Units {
		if !u.Answered || len(u.Profiles) == 0 || u.Profiles[0].Profile != want[u.Unit] || !strings.HasPrefix(u.Profiles[0].Verdict, "plausible") {
			t.Errorf("unit %d serves %s: answered %v, profiles %+v", u.Unit, want[u.Unit], u.Answered, u.Profiles)
		}
	}
	if len(res.Units) != unit {
		t.Errorf("scanned %d units, want %d", len(res.Units), unit)
	}
}
