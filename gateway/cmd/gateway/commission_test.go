package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/simulator/mbserver/mbservertest"
	"github.com/boilerwatch/boilerwatch/simulator/sim"
)

// commissionSim serves, from the simulator, a chain-grate PLC (unit 1), a
// Chint DTSU666 (unit 2), a DTSU666 whose firmware sends its floats word-
// swapped (unit 3: the library's map with byte_order CDAB, while the
// gateway config below names the library's ABCD profile) and an Eastron
// SDM630 (unit 5), on the servers given (a Modbus TCP one by default).
func commissionSim(t *testing.T, servers string) []string {
	t.Helper()
	dir := t.TempDir()
	lib, err := os.ReadFile("../../../firmware-config/profile/profiles/chint-dtsu666.yaml")
	if err != nil {
		t.Fatal(err)
	}
	swapped := strings.Replace(strings.Replace(string(lib), "name: chint-dtsu666", "name: dtsu666-swapped", 1), "byte_order: ABCD", "byte_order: CDAB", 1)
	os.MkdirAll(filepath.Join(dir, "profiles"), 0o755)
	os.WriteFile(filepath.Join(dir, "profiles", "swapped.yaml"), []byte(swapped), 0o644)
	scenario := filepath.Join(dir, "sim.yaml")
	os.WriteFile(scenario, []byte(`seed: 1
update: 200ms
profile_dirs: [`+filepath.Join(dir, "profiles")+`]
boilers:
  - {name: b1, rated_steam: 10, pressure: 1.0, feedwater: 20, coal_lhv: 20000, ash: 23, o2: 8, exhaust: 160}
servers:
`+servers), 0o644)
	sc, err := sim.LoadScenario(scenario)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sc, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s.Addrs()
}

const commissionDevices = `    devices:
      - {name: plc, unit_id: 1, profile: szl-chain-grate-plc, boiler: b1}
      - {name: m2, unit_id: 2, profile: chint-dtsu666, rated: 50}
      - {name: m3, unit_id: 3, profile: dtsu666-swapped, rated: 50}
      - {name: m5, unit_id: 5, profile: eastron-sdm630, rated: 50}
`

// gatewayConfig writes a gateway config whose devices are given in YAML.
func gatewayConfig(t *testing.T, devices string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(path, []byte(`version: 1
site: plant-a
gateway: gw-01
mqtt: {broker: "tcp://127.0.0.1:1"}
queue: {dir: `+filepath.Join(dir, "queue")+`}
devices:
`+devices), 0o644)
	return path
}

func runCmd(t *testing.T, f func([]string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := f(args, &out, &errb)
	return code, out.String(), errb.String()
}

func readCmd(args []string, o, e *bytes.Buffer) int { return runRead(args, o, e) }
func scanCmd(args []string, o, e *bytes.Buffer) int { return runScan(args, o, e) }

type scanJSON struct {
	Units []struct {
		Unit     int    `json:"unit"`
		Answered bool   `json:"answered"`
		Probe    string `json:"probe"`
		Profiles []struct {
			Profile string `json:"profile"`
			Verdict string `json:"verdict"`
		} `json:"profiles"`
	} `json:"units"`
	Scanned int     `json:"scanned"`
	TookS   float64 `json:"took_s"`
	BoundS  float64 `json:"bound_s"`
}

// checkDeviceReads: the right device reads good; the word-swapped one is
// flagged point by point with the order that fits, and as a whole.
func checkDeviceReads(t *testing.T, cfg string) {
	t.Helper()
	code, out, errs := runCmd(t, readCmd, "-config", cfg, "-device", "meter_ok")
	if code != 0 || !strings.Contains(out, "12 good, 0 suspect, 0 bad") {
		t.Errorf("read meter_ok: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"POINT", "ua", "0x2006 (8198)", "holding", "V"} {
		if !strings.Contains(out, want) {
			t.Errorf("read meter_ok: no %q in\n%s", want, out)
		}
	}
	code, out, errs = runCmd(t, readCmd, "-config", cfg, "-device", "meter_swapped")
	if code != 1 {
		t.Errorf("read meter_swapped: exit %d, want 1\n%s%s", code, out, errs)
	}
	for _, want := range []string{"suspect", "outside 50..500 V; likely wrong byte order: CDAB gives 2", "freq", "outside 45..65 Hz",
		"the device likely uses byte_order CDAB"} {
		if !strings.Contains(out, want) {
			t.Errorf("read meter_swapped: no %q in\n%s", want, out)
		}
	}
	code, out, _ = runCmd(t, readCmd, "-config", cfg, "-device", "meter_swapped", "-json")
	var rep struct {
		Points []struct {
			Name    string   `json:"name"`
			Raw     []string `json:"raw"`
			Quality string   `json:"quality"`
			Check   *struct {
				Order string  `json:"order"`
				Value float64 `json:"value"`
			} `json:"check"`
		} `json:"points"`
		ByteOrder *struct {
			Likely string `json:"likely_order"`
		} `json:"byte_order"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 {
		t.Fatalf("read -json: exit %d, %v\n%s", code, err, out)
	}
	if rep.ByteOrder == nil || rep.ByteOrder.Likely != "CDAB" {
		t.Errorf("byte order verdict %+v, want CDAB", rep.ByteOrder)
	}
	for _, p := range rep.Points {
		if p.Name == "ua" && (p.Quality != "suspect" || p.Check == nil || p.Check.Order != "CDAB" || p.Check.Value < 200 || p.Check.Value > 260 || len(p.Raw) != 2) {
			t.Errorf("ua: %+v %+v", p, p.Check)
		}
	}
}

// checkScan: units 1, 2, 3, 5 answer and are named; 4 does not; the time
// stays within the probes' bound plus identification.
func checkScan(t *testing.T, args ...string) {
	t.Helper()
	code, out, errs := runCmd(t, scanCmd, append(args, "-units", "1-5", "-json")...)
	var res scanJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("scan: exit %d, %v\n%s%s", code, err, out, errs)
	}
	want := map[int]string{1: "szl-chain-grate-plc plausible", 2: "chint-dtsu666 plausible", 3: "chint-dtsu666 plausible with byte order CDAB", 5: "eastron-sdm630 plausible"}
	if res.Scanned != 5 || len(res.Units) != 5 {
		t.Fatalf("scanned %d: %+v", res.Scanned, res.Units)
	}
	for _, u := range res.Units {
		w, ok := want[u.Unit]
		if u.Answered != ok {
			t.Errorf("unit %d answered %v (%s)", u.Unit, u.Answered, u.Probe)
			continue
		}
		if ok && (len(u.Profiles) == 0 || u.Profiles[0].Profile+" "+u.Profiles[0].Verdict != w) {
			t.Errorf("unit %d: profiles %+v, want %s first", u.Unit, u.Profiles, w)
		}
	}
	if res.TookS > res.BoundS+3 {
		t.Errorf("scan took %.2fs, probes bounded by %.2fs", res.TookS, res.BoundS)
	}
}

func TestCommissionTCP(t *testing.T) {
	t.Parallel()
	addrs := commissionSim(t, "  - listen: 127.0.0.1:0\n"+commissionDevices+
		"  - listen: 127.0.0.1:0\n    protocol: rtu-over-tcp\n    devices:\n      - {name: r2, unit_id: 2, profile: chint-dtsu666, rated: 50}\n")
	tcp, rot := addrs[0], addrs[1]
	cfg := gatewayConfig(t, `  - {name: meter_ok, profile: chint-dtsu666, address: "`+tcp+`", unit_id: 2}
  - {name: meter_swapped, profile: chint-dtsu666, address: "`+tcp+`", unit_id: 3}
  - {name: meter_dtu, profile: chint-dtsu666, transport: rtu-over-tcp, address: "`+rot+`", unit_id: 2}
`)
	checkDeviceReads(t, cfg)
	if code, out, errs := runCmd(t, readCmd, "-config", cfg, "-device", "meter_dtu"); code != 0 {
		t.Errorf("read over rtu-over-tcp: exit %d\n%s%s", code, out, errs)
	}
	checkScan(t, "-address", tcp, "-timeout", "150ms")

	// Raw: every interpretation, and one type in one order; hex addresses.
	code, out, errs := runCmd(t, readCmd, "-address", tcp, "-unit", "2", "-register", "holding", "-start", "0x2006", "-count", "4")
	if code != 0 {
		t.Fatalf("raw read: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"0x2006", "8198", "UINT16", "INT16", "ABCD", "CDAB", "BADC", "DCBA", "FLOAT32", "0x2008"} {
		if !strings.Contains(out, want) {
			t.Errorf("raw read: no %q in\n%s", want, out)
		}
	}
	code, out, _ = runCmd(t, readCmd, "-address", tcp, "-unit", "3", "-start", "8198", "-count", "6", "-type", "float32", "-order", "cdab", "-json")
	var raw struct {
		Values []struct {
			Address int     `json:"address"`
			Value   float64 `json:"value"`
		} `json:"values"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil || code != 0 || len(raw.Values) != 3 {
		t.Fatalf("typed raw read: exit %d, %v\n%s", code, err, out)
	}
	for _, v := range raw.Values {
		// The DTSU666 sends 0.1 V units.
		if v.Value < 2000 || v.Value > 2600 {
			t.Errorf("voltage at %d read as CDAB: %v", v.Address, v.Value)
		}
	}
	code, _, errs = runCmd(t, readCmd, "-address", tcp, "-unit", "2", "-start", "40001", "-count", "1")
	if code != 1 || !strings.Contains(errs, "looks like a Modicon reference") || !strings.Contains(errs, "exception 2 (illegal data address)") {
		t.Errorf("read 40001: exit %d\n%s", code, errs)
	}
	if code, _, errs := runCmd(t, scanCmd, "-address", rot, "-transport", "rtu-over-tcp", "-units", "1-3", "-timeout", "150ms"); code != 0 {
		t.Errorf("scan rtu-over-tcp: exit %d %s", code, errs)
	}
}

// Over a serial line (a pty pair): the same reads and scan, one unit at a time.
func TestCommissionRTU(t *testing.T) {
	t.Parallel()
	simEnd, gwEnd := servicetest.PtyPair(t)
	commissionSim(t, "  - protocol: rtu\n    device: "+simEnd+"\n    baud: 9600\n    frame_gap: 2ms\n"+commissionDevices)
	cfg := gatewayConfig(t, `  - {name: meter_ok, profile: chint-dtsu666, transport: rtu, port: `+gwEnd+`, unit_id: 2}
  - {name: meter_swapped, profile: chint-dtsu666, transport: rtu, port: `+gwEnd+`, unit_id: 3}
`)
	checkDeviceReads(t, cfg)
	checkScan(t, "-port", gwEnd, "-baud", "9600", "-timeout", "200ms", "-concurrency", "4")
	code, out, errs := runCmd(t, readCmd, "-port", gwEnd, "-unit", "1", "-register", "input", "-start", "0", "-count", "9")
	if code != 0 || !strings.Contains(out, "9 registers") {
		t.Errorf("raw read over RTU: exit %d\n%s%s", code, out, errs)
	}
}

// With nothing listening the scan stops at once; with a device that takes
// requests and never answers it stays within its bound.
func TestScanBounded(t *testing.T) {
	// Not parallel: it bounds how long scans take.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	start := time.Now()
	code, out, errs := runCmd(t, scanCmd, "-address", closed, "-units", "1-247", "-timeout", "200ms")
	if took := time.Since(start); code != 1 || took > 2*time.Second || !strings.Contains(errs, "connection refused") {
		t.Errorf("scan of a closed port: exit %d in %s\n%s%s", code, took, out, errs)
	}

	// A device without units takes every request and never answers: every
	// unit costs its timeout.
	mute := mbservertest.Start(t, mbservertest.Options{})
	start = time.Now()
	code, out, errs = runCmd(t, scanCmd, "-address", mute.Addr, "-units", "1-6", "-timeout", "100ms")
	took := time.Since(start)
	if code != 1 || !strings.Contains(out, "no answer: units 1-6") || !strings.Contains(errs, "no unit id answered") {
		t.Errorf("scan of a mute device: exit %d\n%s%s", code, out, errs)
	}
	if took < 600*time.Millisecond || took > 6*(100+20)*time.Millisecond+300*time.Millisecond {
		t.Errorf("scan of 6 mute units at 100ms took %s", took)
	}
}
