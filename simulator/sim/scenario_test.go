package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
)

func loadText(t testing.TB, text string) (*Scenario, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return LoadScenario(path)
}

func TestShippedScenarios(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../scenarios/*.yaml")
	if len(files) == 0 {
		t.Fatal("no scenarios shipped")
	}
	for _, f := range files {
		if _, err := LoadScenario(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	y, ok := servicetest.DocBlocks(t, "README.md", "yaml")["# scenario.yaml"]
	if !ok {
		t.Fatal("README has no '# scenario.yaml' example")
	}
	if _, err := loadText(t, y); err != nil {
		t.Errorf("README scenario: %v", err)
	}
}

func TestScenarioErrors(t *testing.T) {
	t.Parallel()
	_, err := loadText(t, `boilers: [{name: b}]
servers:
  - listen: nowhere
    devices:
      - {name: d, unit_id: 0, profile: nope, boiler: c}
`)
	if err == nil {
		t.Fatal("bad scenario accepted")
	}
	for _, want := range []string{
		":3: servers[0].listen: \"nowhere\": want host:port",
		":5: servers[0].devices[0].unit_id: 0: want a unit id 1..247",
		":5: servers[0].devices[0].profile: unknown profile \"nope\"",
		":5: servers[0].devices[0].boiler: unknown boiler \"c\"",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestScenarioFieldErrors(t *testing.T) {
	t.Parallel()
	const head = "boilers: [{name: b1}]\nservers:\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown protocol", head + "  - {listen: 127.0.0.1:0, protocol: udp, devices: []}\n", `servers[0].protocol: "udp": want tcp, rtu-over-tcp or rtu`},
		{"rtu without device", head + "  - {protocol: rtu, devices: []}\n", "servers[0].device: an rtu server needs the serial device"},
		{"rtu with listen", head + "  - {protocol: rtu, device: /dev/null, listen: 127.0.0.1:1, devices: []}\n", "servers[0].listen: an rtu server answers on its device"},
		{"odd baud", head + "  - {protocol: rtu, device: /dev/null, baud: 1234, devices: []}\n", "servers[0].baud: 1234: want 1200"},
		{"parity", head + "  - {protocol: rtu, device: /dev/null, parity: mark, devices: []}\n", `servers[0].parity: "mark": want none, even or odd`},
		{"frame gap", head + "  - {protocol: rtu, device: /dev/null, frame_gap: soon, devices: []}\n", `servers[0].frame_gap: "soon" is not a duration (write e.g. 1s, 500ms, 1m)`},
		{"serial settings on tcp", head + "  - {listen: 127.0.0.1:0, baud: 9600, devices: []}\n", "servers[0].device: device, baud, parity and frame_gap apply to protocol: rtu only"},
		{"same port twice", head + "  - {listen: 127.0.0.1:5020, devices: []}\n  - {listen: 127.0.0.1:5020, devices: []}\n", "servers[1].listen: 127.0.0.1:5020 is already served by servers[0]"},
		{"PLC without boiler", head + "  - listen: 127.0.0.1:0\n    devices: [{name: d, unit_id: 1, profile: szl-chain-grate-plc}]\n", "servers[0].devices[0].boiler: a boiler reads a boiler"},
		{"holes", head + "  - listen: 127.0.0.1:0\n    devices: [{name: d, unit_id: 1, profile: chint-dtsu666, holes: ones}]\n", `servers[0].devices[0].holes: "ones": want strict`},
		{"device load", head + "  - listen: 127.0.0.1:0\n    devices: [{name: d, unit_id: 1, profile: chint-dtsu666, load: {base: 0, amplitude: 0.1, peak_hour: 25}}]\n", "servers[0].devices[0].load.base: 0: want a fraction"},
		{"boiler count without {i}", "boilers: [{name: b, count: 3}]\nservers: [{listen: 127.0.0.1:0, devices: []}]\n", "boilers[0].name: \"b\": with count, write {i} in the name"},
		{"boiler load peak hour", "boilers: [{name: b, load: {base: 0.7, amplitude: 0.2, peak_hour: 24}}]\nservers: [{listen: 127.0.0.1:0, devices: []}]\n", "boilers[0].load.peak_hour: 24: want an hour of the day"},
		{"coal date", "boilers: [{name: b, coal: [{from: tomorrow, lhv: 18000}]}]\nservers: [{listen: 127.0.0.1:0, devices: []}]\n", `boilers[0].coal[0].from: "tomorrow" is not an RFC 3339 time`},
		{"coal order", "boilers: [{name: b, coal: [{from: '2026-02-01T00:00:00Z', lhv: 18000}, {from: '2026-01-01T00:00:00Z', lhv: 19000}]}]\nservers: [{listen: 127.0.0.1:0, devices: []}]\n", "boilers[0].coal[1].from: 2026-01-01T00:00:00Z is not after the previous change"},
		{"upset order", "boilers: [{name: b, upsets: [{from: '2026-02-01T15:00:00Z', to: '2026-02-01T14:00:00Z', o2: 4}]}]\nservers: [{listen: 127.0.0.1:0, devices: []}]\n", "boilers[0].upsets[0].to: 2026-02-01T14:00:00Z is not after from"},
		{"upset empty", "boilers: [{name: b, upsets: [{from: '2026-02-01T14:00:00Z', to: '2026-02-01T15:00:00Z'}]}]\nservers: [{listen: 127.0.0.1:0, devices: []}]\n", "boilers[0].upsets[0]: an upset raises o2, exhaust or both"},
		{"coal LHV", "boilers: [{name: b, coal: [{from: '2026-02-01T00:00:00Z', lhv: 180}]}]\nservers: [{listen: 127.0.0.1:0, devices: []}]\n", "boilers[0].coal[0].lhv: 180 kJ/kg is not a coal's LHV"},
		{"server count on rtu", head + "  - {protocol: rtu, device: /dev/null, count: 2, devices: []}\n", "servers[0].count: an rtu server has one device path"},
		{"device count with duplicate names", head + "  - listen: 127.0.0.1:0\n    devices: [{name: m, unit_id: 1, count: 2, profile: chint-dtsu666}]\n", `servers[0].devices[0].name: duplicate device name "m"`},
		{"fault delay not a duration", head + "  - listen: 127.0.0.1:0\n    devices:\n      - {name: d, unit_id: 1, profile: chint-dtsu666, faults: [{kind: delay, delay: 2 s}]}\n",
			`servers[0].devices[0].faults[0].delay: "2 s" is not a duration (write e.g. 1s, 500ms, 1m)`},
	}
	faultTests := []struct{ fault, want string }{
		{"{kind: melt}", `kind "melt": want one of [delay`},
		{"{kind: delay}", "delay: how long?"},
		{"{kind: exception, code: 7}", "code 7: want an exception code"},
		{"{kind: bad_crc}", "kind bad_crc needs RTU framing"},
		{"{kind: stuck, start: 1m, stop: 30s}", "stop 30s is not after start 1m"},
		{"{kind: garbled, count: -1}", "count -1: want 0 (unlimited) or more"},
		{"{kind: garbled, probability: 2}", "probability 2: want 0..1"},
		{"{kind: power_cycle, stop: 1m}", "stop does not apply to kind power_cycle"},
		{"{kind: meter_replacement, stop: 1m}", "stop does not apply to kind meter_replacement"},
		{"{kind: stuck, count: 3}", "count does not apply to kind stuck"},
		{"{kind: delay, delay: 1s, pieces: 3}", "pieces does not apply to kind delay"},
		{"{kind: split, pieces: 1}", "pieces 1: want 2..256"},
	}
	for _, ft := range faultTests {
		tests = append(tests, struct{ name, yaml, want string }{"fault " + ft.fault,
			head + "  - listen: 127.0.0.1:0\n    devices:\n      - {name: d, unit_id: 1, profile: chint-dtsu666, faults: [" + ft.fault + "]}\n",
			"servers[0].devices[0].faults[0]: " + ft.want})
	}
	tests = append(tests, struct{ name, yaml, want string }{"reset on a serial line",
		head + "  - protocol: rtu\n    device: /dev/null\n    devices:\n      - {name: d, unit_id: 1, profile: chint-dtsu666, faults: [{kind: reset}]}\n",
		"servers[0].devices[0].faults[0]: kind reset needs a TCP connection"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadText(t, tt.yaml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestScenarioExpand(t *testing.T) {
	t.Parallel()
	sc, err := loadText(t, `boilers: [{name: "b{i}", count: 2}]
servers:
  - listen: 127.0.0.1:15100
    count: 3
    devices:
      - {name: "plc-{server}", unit_id: 1, profile: szl-chain-grate-plc, boiler: "b{server}", faults: [{kind: stuck, start: 1m}]}
      - {name: "m-{server}-{unit}", unit_id: 10, count: 4, profile: chint-dtsu666}
`)
	if err == nil || !strings.Contains(err.Error(), `unknown boiler "b3"`) {
		t.Fatalf("third server's boiler b3 accepted: %v", err)
	}
	sc, err = loadText(t, `boilers: [{name: "b{i}", count: 3}]
servers:
  - listen: 127.0.0.1:15100
    count: 3
    devices:
      - {name: "plc-{server}", unit_id: 1, profile: szl-chain-grate-plc, boiler: "b{server}", faults: [{kind: stuck, start: 1m}]}
      - {name: "m-{server}-{unit}", unit_id: 10, count: 4, profile: chint-dtsu666}
`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range sc.Boilers {
		got = append(got, b.Name)
	}
	for _, srv := range sc.Servers {
		got = append(got, srv.Listen)
		for _, d := range srv.Devices {
			got = append(got, fmt.Sprintf("%d:%s:%s:%d", d.UnitID, d.Name, d.Boiler, len(d.faults)))
		}
	}
	want := "b1 b2 b3 " +
		"127.0.0.1:15100 1:plc-1:b1:1 10:m-1-10::0 11:m-1-11::0 12:m-1-12::0 13:m-1-13::0 " +
		"127.0.0.1:15101 1:plc-2:b2:1 10:m-2-10::0 11:m-2-11::0 12:m-2-12::0 13:m-2-13::0 " +
		"127.0.0.1:15102 1:plc-3:b3:1 10:m-3-10::0 11:m-3-11::0 12:m-3-12::0 13:m-3-13::0"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("expanded:\n%s\nwant\n%s", g, want)
	}
}
