package commission

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/goburrow/modbus"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/plan"
)

// fakeDevice answers from a register map; any address outside it is
// refused with exception 2, as a strict meter does.
type fakeDevice map[profile.RegisterType]map[int]uint16

func (f fakeDevice) Read(_ context.Context, _ byte, r profile.RegisterType, start, count int, _ time.Duration) ([]uint16, time.Time, error) {
	out := make([]uint16, count)
	for i := range out {
		v, ok := f[r][start+i]
		if !ok {
			return nil, time.Time{}, fmt.Errorf("fake: %w", &modbus.ModbusError{FunctionCode: 0x83, ExceptionCode: 2})
		}
		out[i] = v
	}
	return out, time.Now(), nil
}

const testProfile = `name: t-meter
class: electricity_meter
source: test
points:
  - {name: ua, register: holding, address: 0, type: float32, unit: V, range: [50, 500]}
  - {name: freq, register: holding, address: 2, type: uint16, scale: 0.01, unit: Hz, range: [45, 65]}
  - {name: p, register: holding, address: 10, type: float32, unit: kW}
identify:
  match:
    - {register: holding, address: 100, type: uint16, values: [0x0070], description: model code}
`

func load(t *testing.T) *profile.Profile {
	t.Helper()
	p, err := profile.ParseProfile("t.yaml", []byte(testProfile))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadPointsAndCheck(t *testing.T) {
	t.Parallel()
	p := load(t)
	dev := fakeDevice{profile.Holding: {
		0: 0x0000, 1: 0x4366, // 230 V as float32 CDAB: words swapped
		2:  0x8813,             // 5000 (50.00 Hz) with its bytes swapped
		10: 0x4120, 11: 0x0000, // 10 kW
	}}
	pts := []*profile.Point{&p.Points[0], &p.Points[1], &p.Points[2]}
	rd := ReadPoints(context.Background(), dev, 1, pts, plan.Options{MaxGap: 50}, time.Second)
	// One merged read 0..11 is refused (3..9 unmapped), then each point alone.
	if rd.Requests != 4 {
		t.Errorf("%d requests, want 4 (one refused merged read, three single ones)", rd.Requests)
	}
	ua, freq, pw := rd.Get("ua"), rd.Get("freq"), rd.Get("p")
	if ua.Check == nil || ua.Check.Order != "CDAB" || *ua.Check.Value != 230 || !strings.Contains(ua.Check.Hint, "CDAB gives 230 V") {
		t.Errorf("ua: %+v %+v", ua.Value, ua.Check)
	}
	if freq.Check == nil || freq.Check.Order != "BA" || *freq.Check.Value != 50 {
		t.Errorf("freq: %+v %+v", freq.Value, freq.Check)
	}
	if pw.Check != nil || pw.Quality() != "good" || pw.Value.Num != 10 {
		t.Errorf("p: %+v %+v", pw.Value, pw.Check)
	}
	// A scale off by ten is named as such.
	dev[profile.Holding][2] = 50 // 0.5 Hz: scale 0.01 where 1 was meant
	rd = ReadPoints(context.Background(), dev, 1, pts[1:2], plan.Options{}, time.Second)
	if c := rd.Get("freq").Check; c == nil || !strings.Contains(c.Hint, "check scale: ×100 gives 50 Hz") {
		t.Errorf("freq off by a scale: %+v", c)
	}
}

func TestJudge(t *testing.T) {
	t.Parallel()
	p := load(t)
	dev := fakeDevice{profile.Holding: {0: 0x4366, 1: 0x0000, 2: 5000, 100: 0x0070}}
	c := judge(context.Background(), dev, 1, p, time.Second)
	if c.Verdict != "identified" || c.Score != 1020 {
		t.Errorf("identified device: %+v", c)
	}
	dev[profile.Holding][100] = 0x0071
	c = judge(context.Background(), dev, 1, p, time.Second)
	if c.Score != 0 || !strings.Contains(c.Verdict, "model code (holding 0x0064) is 113, not 112 (0x70)") {
		t.Errorf("other model: %+v", c)
	}
	delete(dev[profile.Holding], 100)
	c = judge(context.Background(), dev, 1, p, time.Second)
	if c.Score != 0 || !strings.Contains(c.Verdict, "exception 2") {
		t.Errorf("no model register: %+v", c)
	}
}

func TestPairs(t *testing.T) {
	t.Parallel()
	// 123.456 = 0x42F6E979, as in the README's byte order table.
	for _, tt := range []struct {
		a, b  uint16
		order string
	}{{0x42F6, 0xE979, "ABCD"}, {0xE979, 0x42F6, "CDAB"}, {0xF642, 0x79E9, "BADC"}, {0x79E9, 0xF642, "DCBA"}} {
		pv := pair(tt.a, tt.b, tt.order)
		if pv.Uint32 != 0x42F6E979 || pv.Float != 123.456 {
			t.Errorf("%s: %+v", tt.order, pv)
		}
	}
}

func TestParsing(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"0x2006": 8198, "8198": 8198, "0100": 100, "0X10": 16, "65535": 65535} {
		if got, err := ParseAddress(in); err != nil || got != want {
			t.Errorf("ParseAddress(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"65536", "-1", "0x", "abc", "0x1FFFF"} {
		if _, err := ParseAddress(bad); err == nil {
			t.Errorf("ParseAddress(%q) accepted", bad)
		}
	}
	us, err := ParseUnits("1-3, 7,2,10-11", 247)
	if err != nil || fmt.Sprint(us) != "[1 2 3 7 10 11]" || Ranges(us) != "1-3, 7, 10-11" {
		t.Errorf("ParseUnits: %v %v %q", us, err, Ranges(us))
	}
	for _, bad := range []string{"0-300", "5-1", "x", ""} {
		if _, err := ParseUnits(bad, 247); err == nil {
			t.Errorf("ParseUnits(%q) accepted", bad)
		}
	}
	if h := ModiconHint(profile.Holding, 40001); !strings.Contains(h, "protocol address 0") {
		t.Errorf("hint %q", h)
	}
	if h := ModiconHint(profile.Holding, 8198); h != "" {
		t.Errorf("hint for 8198: %q", h)
	}
}

func TestProbeBound(t *testing.T) {
	t.Parallel()
	o := ScanOptions{Bus: fwconfig.Bus{Transport: fwconfig.RTU}, Units: make([]int, 10), Timeout: 100 * time.Millisecond, Concurrency: 1}
	if b := ProbeBound(o); b != 10*220*time.Millisecond {
		t.Errorf("rtu bound %s", b)
	}
	o.Bus.Transport, o.Concurrency = fwconfig.TCP, 4
	if b := ProbeBound(o); b != 3*120*time.Millisecond {
		t.Errorf("tcp bound %s", b)
	}
}
