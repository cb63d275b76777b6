// Package sim runs a simulated boiler room: Modbus servers whose devices are
// described by firmware-config profiles and driven by the physical models,
// with faults injected on the wire and in the devices.
package sim

import (
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/simulator/mbserver"
	"github.com/boilerwatch/boilerwatch/simulator/model"
)

// Scenario is a simulator configuration file.
type Scenario struct {
	// Seed makes the noise reproducible.
	Seed uint64 `yaml:"seed"`
	// Acceleration is simulated seconds per real second (1 = real time).
	Acceleration float64 `yaml:"acceleration"`
	// Start is the simulated start time; unset means now.
	Start conf.Time `yaml:"start"`
	// Update is how often (real time) the models step and registers
	// change (default 200ms).
	Update      conf.Duration   `yaml:"update"`
	ProfileDirs []string        `yaml:"profile_dirs"`
	Boilers     []Boiler        `yaml:"boilers"`
	Servers     []Server        `yaml:"servers"`
	Library     profile.Library `yaml:"-"`
}

// Boiler overrides the default boiler's parameters; zero keeps the default.
type Boiler struct {
	Name           string  `yaml:"name"`
	RatedSteam     float64 `yaml:"rated_steam"`
	Pressure       float64 `yaml:"pressure"`
	Feedwater      float64 `yaml:"feedwater"`
	CoalLHV        float64 `yaml:"coal_lhv"`
	Ash            float64 `yaml:"ash"`
	O2             float64 `yaml:"o2"`
	Exhaust        float64 `yaml:"exhaust"`
	CO             float64 `yaml:"co"`
	FoulingKPerDay float64 `yaml:"fouling_k_per_day"`
	// Load is the daily load cycle as a fraction of rated steam.
	Load *Load `yaml:"load"`
	// Coal lists dated changes of the coal's LHV, in date order.
	Coal []CoalStep `yaml:"coal"`
	// Upsets are dated episodes of bad combustion (simulated time).
	Upsets []UpsetSpec `yaml:"upsets"`
	// Count > 1 makes that many boilers, named by replacing {i} in Name
	// with 1, 2, ...
	Count int `yaml:"count"`
}

// Load is a daily cycle: base ± amplitude, highest at peak_hour (simulated
// local time, 0–24).
type Load struct {
	Base      float64 `yaml:"base"`
	Amplitude float64 `yaml:"amplitude"`
	PeakHour  float64 `yaml:"peak_hour"`
}

// CoalStep is a coal delivery: from this simulated time on, the coal has
// this LHV.
type CoalStep struct {
	From conf.Time `yaml:"from"`
	LHV  float64   `yaml:"lhv"` // kJ/kg
}

// UpsetSpec is an episode of bad combustion: from..to (simulated time,
// RFC 3339) the flue O2 is o2 percentage points and the exhaust exhaust K
// higher (excess air, fouling).
type UpsetSpec struct {
	From    conf.Time `yaml:"from"`
	To      conf.Time `yaml:"to"`
	O2      float64   `yaml:"o2"`
	Exhaust float64   `yaml:"exhaust"`
}

// Protocols a server speaks.
const (
	ProtocolTCP        = "tcp"
	ProtocolRTUOverTCP = "rtu-over-tcp"
	ProtocolRTU        = "rtu"
)

// Server is one Modbus endpoint — a TCP port or a serial device — and the
// unit ids behind it.
type Server struct {
	// Listen is host:port for tcp and rtu-over-tcp.
	Listen string `yaml:"listen"`
	// Protocol is tcp (default), rtu-over-tcp or rtu.
	Protocol string `yaml:"protocol"`
	// Device is the serial device (or pseudo-terminal) of an rtu server.
	Device string `yaml:"device"`
	// Baud and Parity set the serial line of an rtu server (default 9600,
	// even parity as the Modbus serial specification asks).
	Baud   int    `yaml:"baud"`
	Parity string `yaml:"parity"`
	// FrameGap overrides the silence that ends an RTU frame (3.5 characters
	// at Baud); a pseudo-terminal wants a small fixed gap such as 2ms.
	FrameGap conf.Duration `yaml:"frame_gap"`
	// Count > 1 makes that many servers on consecutive ports (all on port
	// 0, i.e. ephemeral, if the port is 0).
	Count   int      `yaml:"count"`
	Devices []Device `yaml:"devices"`

	at string // field path in the file, for errors
}

// Holes values: how a device answers a read touching addresses that no
// point of its profile covers.
const (
	HolesStrict = "strict" // exception 2, as most meters do (default)
	HolesZero   = "zero"   // zeros, as many PLCs do
)

// Device is one simulated device.
type Device struct {
	Name    string `yaml:"name"`
	UnitID  int    `yaml:"unit_id"`
	Profile string `yaml:"profile"`
	// Boiler names the boiler whose physics drive this device; meters
	// without one (heat, gas, water, electricity) get a model of their own.
	Boiler string `yaml:"boiler"`
	// Holes is strict (default) or zero.
	Holes string `yaml:"holes"`
	// Rated and Load drive a device's own model when it has no boiler: the
	// nominal flow or power in the unit of its main quantity (kW, t/h,
	// m3/h) and its daily cycle.
	Rated float64 `yaml:"rated"`
	Load  *Load   `yaml:"load"`
	// Faults are injected from the simulator's start (see FaultSpec).
	Faults []FaultSpec `yaml:"faults"`
	// Count > 1 makes that many devices on consecutive unit ids from
	// UnitID; {unit} and {server} in Name and Boiler become the unit id and
	// the server's copy number (1, 2, ...).
	Count int `yaml:"count"`

	Spec   *profile.Profile `yaml:"-"`
	faults []fault
	at     string
}

// Device classes whose model needs a boiler, and those that must not have one.
var (
	needsBoiler = map[string]bool{"boiler": true, "plc": true, "o2_analyzer": true, "coal_scale": true}
	ownModel    = map[string]bool{"heat_meter": true, "gas_meter": true}
)

// LoadScenario reads and validates a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	var s Scenario
	d, err := conf.Decode(path, data, &s)
	if err != nil {
		return nil, err
	}
	lib, err := profile.LoadLibrary(s.ProfileDirs...)
	if err != nil {
		return nil, err
	}
	s.Library = lib
	if s.Acceleration == 0 {
		s.Acceleration = 1
	} else if s.Acceleration < 0 || s.Acceleration > 100000 {
		d.Errorf("acceleration", "%g is outside (0, 100000]", s.Acceleration)
	}
	if !s.Start.IsSet() {
		s.Start.Time = time.Now()
	}
	s.Update.Default(200 * time.Millisecond)
	if s.Update.Duration < 10*time.Millisecond {
		d.Errorf("update", "%s: want a duration of at least 10ms", s.Update.Duration)
	}
	s.Boilers = expandBoilers(d, s.Boilers)
	boilers := conf.Unique{What: "boiler name", AnyName: true}
	for i := range s.Boilers {
		b := &s.Boilers[i]
		at := fmt.Sprintf("boilers[%d]", i)
		boilers.Check(d, at, "name", b.Name)
		if b.Load != nil {
			checkLoad(d, at+".load", b.Load)
		}
		for j := range b.Coal {
			c := &b.Coal[j]
			cat := fmt.Sprintf("%s.coal[%d]", at, j)
			if !c.From.IsSet() {
				d.Errorf(cat+".from", "missing; %s", conf.TimeHint)
			} else if j > 0 && !c.From.After(b.Coal[j-1].From.Time) {
				d.Errorf(cat+".from", "%s is not after the previous change; list coal changes in date order", c.From.Format(time.RFC3339))
			}
			if c.LHV < 5000 || c.LHV > 35000 {
				d.Errorf(cat+".lhv", "%g kJ/kg is not a coal's LHV (5000..35000)", c.LHV)
			}
		}
		for j := range b.Upsets {
			u := &b.Upsets[j]
			uat := fmt.Sprintf("%s.upsets[%d]", at, j)
			if !u.From.IsSet() {
				d.Errorf(uat+".from", "missing; %s", conf.TimeHint)
			}
			if !u.To.IsSet() {
				d.Errorf(uat+".to", "missing; %s", conf.TimeHint)
			}
			if u.From.IsSet() && u.To.IsSet() && !u.To.After(u.From.Time) {
				d.Errorf(uat+".to", "%s is not after from", u.To.Format(time.RFC3339))
			}
			if u.O2 < 0 || u.O2 > 10 {
				d.Errorf(uat+".o2", "%g: want 0..10 percentage points more flue O2", u.O2)
			}
			if u.Exhaust < 0 || u.Exhaust > 150 {
				d.Errorf(uat+".exhaust", "%g: want 0..150 K more exhaust temperature", u.Exhaust)
			}
			if u.O2 == 0 && u.Exhaust == 0 {
				d.Errorf(uat, "an upset raises o2, exhaust or both")
			}
		}
	}
	if len(s.Servers) == 0 {
		d.Errorf("servers", "a scenario needs at least one server")
	}
	s.Servers = expandServers(d, s.Servers)
	names := conf.Unique{What: "device name", AnyName: true}
	endpoints := map[string]string{}
	for i := range s.Servers {
		srv := &s.Servers[i]
		at := srv.at
		switch srv.Protocol {
		case "":
			srv.Protocol = ProtocolTCP
		case ProtocolTCP, ProtocolRTUOverTCP, ProtocolRTU:
		default:
			d.Errorf(at+".protocol", "%q: want tcp, rtu-over-tcp or rtu", srv.Protocol)
		}
		if srv.Protocol == ProtocolRTU {
			if srv.Device == "" {
				d.Errorf(at+".device", "an rtu server needs the serial device (or pseudo-terminal) it answers on")
			}
			if srv.Listen != "" {
				d.Errorf(at+".listen", "an rtu server answers on its device, not on a TCP port; remove listen or use protocol: rtu-over-tcp")
			}
			switch srv.Baud {
			case 0:
				srv.Baud = 9600
			case 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200:
			default:
				d.Errorf(at+".baud", "%d: want 1200, 2400, 4800, 9600, 19200, 38400, 57600 or 115200", srv.Baud)
			}
			switch srv.Parity {
			case "":
				srv.Parity = "even"
			case "none", "even", "odd":
			default:
				d.Errorf(at+".parity", "%q: want none, even or odd", srv.Parity)
			}
			if g := srv.FrameGap; g.IsSet() && (g.Duration <= 0 || g.Duration > time.Second) {
				d.Errorf(at+".frame_gap", "%s: want a duration up to 1s, e.g. 2ms", g.Duration)
			}
			if prev, dup := endpoints[srv.Device]; dup {
				d.Errorf(at+".device", "%s is already served by %s", srv.Device, prev)
			}
			endpoints[srv.Device] = at
		} else {
			if srv.Device != "" || srv.Baud != 0 || srv.Parity != "" || srv.FrameGap.IsSet() {
				d.Errorf(at+".device", "device, baud, parity and frame_gap apply to protocol: rtu only")
			}
			if _, port, err := net.SplitHostPort(srv.Listen); err != nil {
				d.Errorf(at+".listen", "%q: want host:port", srv.Listen)
			} else if prev, dup := endpoints[srv.Listen]; dup && port != "0" {
				d.Errorf(at+".listen", "%s is already served by %s", srv.Listen, prev)
			}
			endpoints[srv.Listen] = at
		}
		units := map[int]bool{}
		for j := range srv.Devices {
			dev := &srv.Devices[j]
			dat := dev.at
			names.Check(d, dat, "name", dev.Name)
			if dev.UnitID < 1 || dev.UnitID > 247 || units[dev.UnitID] {
				d.Errorf(dat+".unit_id", "%d: want a unit id 1..247, unique on this server", dev.UnitID)
			}
			units[dev.UnitID] = true
			if dev.Boiler != "" && !boilers.Seen(dev.Boiler) {
				d.Errorf(dat+".boiler", "unknown boiler %q", dev.Boiler)
			}
			dev.Spec = lib[dev.Profile]
			if dev.Spec == nil {
				d.Errorf(dat+".profile", "unknown profile %q; known: %v", dev.Profile, lib.Names())
				continue
			}
			class := dev.Spec.Class
			switch {
			case dev.Boiler == "" && needsBoiler[class]:
				d.Errorf(dat+".boiler", "a %s reads a boiler: name one of the scenario's boilers", class)
			case dev.Boiler != "" && ownModel[class]:
				d.Errorf(dat+".boiler", "a %s has a model of its own, not a boiler's: remove boiler", class)
			}
			switch dev.Holes {
			case "":
				dev.Holes = HolesStrict
			case HolesStrict, HolesZero:
			default:
				d.Errorf(dat+".holes", "%q: want strict (exception 2 for unmapped addresses) or zero", dev.Holes)
			}
			if dev.Rated < 0 {
				d.Errorf(dat+".rated", "%g: want a positive nominal flow or power", dev.Rated)
			}
			if dev.Load != nil {
				checkLoad(d, dat+".load", dev.Load)
			}
			dev.faults = nil
			for k := range dev.Faults {
				f, err := dev.Faults[k].parse(srv.Protocol)
				if err != nil {
					d.Errorf(fmt.Sprintf("%s.faults[%d]", dat, k), "%v", err)
					continue
				}
				dev.faults = append(dev.faults, f)
			}
		}
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return &s, nil
}

func checkLoad(d *conf.Document, at string, l *Load) {
	if l.Base <= 0 || l.Base > 1.1 {
		d.Errorf(at+".base", "%g: want a fraction of rated output in (0, 1.1]", l.Base)
	}
	if l.Amplitude < 0 || l.Base-l.Amplitude < 0 || l.Base+l.Amplitude > 1.2 {
		d.Errorf(at+".amplitude", "%g: base ± amplitude must stay within 0..1.2", l.Amplitude)
	}
	if l.PeakHour < 0 || l.PeakHour >= 24 {
		d.Errorf(at+".peak_hour", "%g: want an hour of the day, 0 <= h < 24", l.PeakHour)
	}
}

// expandBoilers replaces each boiler with count > 1 by its copies.
func expandBoilers(d *conf.Document, in []Boiler) []Boiler {
	var out []Boiler
	for i, b := range in {
		if b.Count < 0 || b.Count > 1000 {
			d.Errorf(fmt.Sprintf("boilers[%d].count", i), "%d: want 1..1000", b.Count)
			continue
		}
		if b.Count <= 1 {
			out = append(out, b)
			continue
		}
		if !strings.Contains(b.Name, "{i}") {
			d.Errorf(fmt.Sprintf("boilers[%d].name", i), "%q: with count, write {i} in the name to tell the copies apart", b.Name)
			continue
		}
		for k := 1; k <= b.Count; k++ {
			c := b
			c.Name, c.Count = strings.ReplaceAll(b.Name, "{i}", strconv.Itoa(k)), 0
			out = append(out, c)
		}
	}
	return out
}

// expandServers replaces servers and devices with count > 1 by their copies
// and resolves the {server} and {unit} placeholders.
func expandServers(d *conf.Document, in []Server) []Server {
	var out []Server
	for i, srv := range in {
		at := fmt.Sprintf("servers[%d]", i)
		n := max(srv.Count, 1)
		if srv.Count < 0 || srv.Count > 1000 {
			d.Errorf(at+".count", "%d: want 1..1000", srv.Count)
			n = 1
		}
		if n > 1 && srv.Protocol == ProtocolRTU {
			d.Errorf(at+".count", "an rtu server has one device path; list each serial server")
			n = 1
		}
		host, port, perr := net.SplitHostPort(srv.Listen)
		portN, _ := strconv.Atoi(port)
		if n > 1 && (perr != nil || portN+n-1 > 65535) {
			d.Errorf(at+".listen", "%q: count needs host:port with room for %d consecutive ports", srv.Listen, n)
			n = 1
		}
		for k := 1; k <= n; k++ {
			c := srv
			c.at, c.Count, c.Devices = at, 0, nil
			if n > 1 && portN != 0 {
				c.Listen = net.JoinHostPort(host, strconv.Itoa(portN+k-1))
			}
			for j, dev := range srv.Devices {
				dat := fmt.Sprintf("%s.devices[%d]", at, j)
				m := max(dev.Count, 1)
				if dev.Count < 0 || dev.Count > 247 {
					d.Errorf(dat+".count", "%d: want 1..247", dev.Count)
					m = 1
				}
				for u := 0; u < m; u++ {
					dc := dev
					dc.at, dc.Count = dat, 0
					dc.UnitID = dev.UnitID + u
					r := strings.NewReplacer("{server}", strconv.Itoa(k), "{unit}", strconv.Itoa(dc.UnitID))
					dc.Name, dc.Boiler = r.Replace(dev.Name), r.Replace(dev.Boiler)
					// Copies share nothing mutable: faults are parsed per copy.
					dc.Faults = append([]FaultSpec(nil), dev.Faults...)
					c.Devices = append(c.Devices, dc)
				}
			}
			out = append(out, c)
		}
	}
	return out
}

// params merges a scenario boiler into the default boiler.
func (b Boiler) params() model.BoilerParams {
	p := model.DefaultBoiler()
	set := func(dst *float64, v float64) {
		if v != 0 {
			*dst = v
		}
	}
	set(&p.RatedSteam, b.RatedSteam)
	set(&p.PressureGauge, b.Pressure)
	set(&p.FeedwaterC, b.Feedwater)
	set(&p.Coal.LHV, b.CoalLHV)
	set(&p.Coal.AshPct, b.Ash)
	set(&p.O2Pct, b.O2)
	set(&p.ExhaustC, b.Exhaust)
	set(&p.COppm, b.CO)
	set(&p.FoulingKPerDay, b.FoulingKPerDay)
	if b.Load != nil {
		p.Load = model.DailyLoad{Base: b.Load.Base, Amplitude: b.Load.Amplitude, PeakHour: b.Load.PeakHour}
	}
	for _, c := range b.Coal {
		p.CoalChanges = append(p.CoalChanges, model.CoalChange{From: c.From.Time, LHV: c.LHV})
	}
	sort.Slice(p.CoalChanges, func(i, j int) bool { return p.CoalChanges[i].From.Before(p.CoalChanges[j].From) })
	for _, u := range b.Upsets {
		p.Upsets = append(p.Upsets, model.Upset{From: u.From.Time, To: u.To.Time, O2Pct: u.O2, ExhaustK: u.Exhaust})
	}
	return p
}

// protocol maps a scenario protocol to the server's.
func protocol(p string) mbserver.Protocol {
	switch p {
	case ProtocolRTUOverTCP:
		return mbserver.ProtocolRTUOverTCP
	case ProtocolRTU:
		return mbserver.ProtocolRTU
	}
	return mbserver.ProtocolTCP
}
