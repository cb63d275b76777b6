// Package sim runs a simulated boiler room: Modbus servers whose devices are
// described by firmware-config profiles and driven by the physical models.
package sim

import (
	"fmt"
	"net"
	"os"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/simulator/model"
)

// Scenario is a simulator configuration file.
type Scenario struct {
	// Seed makes the noise reproducible.
	Seed uint64 `yaml:"seed"`
	// Acceleration is simulated seconds per real second (1 = real time).
	Acceleration float64 `yaml:"acceleration"`
	// Start is the simulated start time (RFC 3339); empty means now.
	StartRaw string `yaml:"start"`
	// Update is how often (real time) the models step and registers change.
	UpdateRaw   string           `yaml:"update"`
	ProfileDirs []string         `yaml:"profile_dirs"`
	Boilers     []Boiler         `yaml:"boilers"`
	Servers     []Server         `yaml:"servers"`
	Start       time.Time        `yaml:"-"`
	Update      time.Duration    `yaml:"-"`
	Library     fwconfig.Library `yaml:"-"`
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
}

// Server is one listening Modbus TCP port and the unit ids behind it.
type Server struct {
	Listen  string   `yaml:"listen"`
	Devices []Device `yaml:"devices"`
}

// Device is one simulated device.
type Device struct {
	Name    string `yaml:"name"`
	UnitID  int    `yaml:"unit_id"`
	Profile string `yaml:"profile"`
	// Boiler names the boiler whose physics drive this device.
	Boiler string `yaml:"boiler"`

	Spec *fwconfig.Profile `yaml:"-"`
}

// LoadScenario reads and validates a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	var s Scenario
	d, err := fwconfig.ParseYAML(path, data, &s)
	if err != nil {
		return nil, err
	}
	lib, err := fwconfig.LoadLibrary(s.ProfileDirs...)
	if err != nil {
		return nil, err
	}
	s.Library = lib
	if s.Acceleration == 0 {
		s.Acceleration = 1
	} else if s.Acceleration < 0 || s.Acceleration > 100000 {
		d.Errorf("acceleration", "%g is outside (0, 100000]", s.Acceleration)
	}
	s.Start = time.Now()
	if s.StartRaw != "" {
		if s.Start, err = time.Parse(time.RFC3339, s.StartRaw); err != nil {
			d.Errorf("start", "%q is not an RFC 3339 time (e.g. 2026-01-15T00:00:00+08:00)", s.StartRaw)
		}
	}
	s.Update = 200 * time.Millisecond
	if s.UpdateRaw != "" {
		if s.Update, err = time.ParseDuration(s.UpdateRaw); err != nil || s.Update < 10*time.Millisecond {
			d.Errorf("update", "%q: want a duration of at least 10ms", s.UpdateRaw)
		}
	}
	boilers := map[string]bool{}
	for i, b := range s.Boilers {
		if b.Name == "" || boilers[b.Name] {
			d.Errorf(fmt.Sprintf("boilers[%d].name", i), "missing or duplicate boiler name %q", b.Name)
		}
		boilers[b.Name] = true
	}
	if len(s.Servers) == 0 {
		d.Errorf("servers", "a scenario needs at least one server")
	}
	names := map[string]bool{}
	for i := range s.Servers {
		srv := &s.Servers[i]
		at := fmt.Sprintf("servers[%d]", i)
		if _, _, err := net.SplitHostPort(srv.Listen); err != nil {
			d.Errorf(at+".listen", "%q: want host:port", srv.Listen)
		}
		units := map[int]bool{}
		for j := range srv.Devices {
			dev := &srv.Devices[j]
			dat := fmt.Sprintf("%s.devices[%d]", at, j)
			if dev.Name == "" || names[dev.Name] {
				d.Errorf(dat+".name", "missing or duplicate device name %q", dev.Name)
			}
			names[dev.Name] = true
			if dev.UnitID < 1 || dev.UnitID > 247 || units[dev.UnitID] {
				d.Errorf(dat+".unit_id", "%d: want a unit id 1..247, unique on this server", dev.UnitID)
			}
			units[dev.UnitID] = true
			dev.Spec = lib[dev.Profile]
			if dev.Spec == nil {
				d.Errorf(dat+".profile", "unknown profile %q; known: %v", dev.Profile, lib.Names())
			}
			if !boilers[dev.Boiler] {
				d.Errorf(dat+".boiler", "unknown boiler %q: every device is driven by one of the scenario's boilers", dev.Boiler)
			}
		}
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return &s, nil
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
	return p
}
