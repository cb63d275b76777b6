package fwconfig

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

// Transport is how a gateway reaches a device.
type Transport string

const (
	TCP Transport = "tcp" // Modbus TCP (MBAP framing)
	RTU Transport = "rtu" // Modbus RTU on a local serial port (RS-485/RS-232)
	// RTUOverTCP is RTU framing (CRC, no MBAP header) carried over a TCP
	// socket, as serial device servers and transparent 4G DTUs forward it.
	RTUOverTCP Transport = "rtu-over-tcp"
)

// Limits and defaults of the gateway config.
const (
	// DefaultMaxGap bridges gaps of up to 50 registers (Telegraf's
	// max_insert fill): reading 50 unused words costs 100 bytes, a round
	// trip on RS-485 costs tens of milliseconds. A device that refuses a
	// bridged read (exception 2) teaches the gateway its hole, which is
	// never bridged again (gateway/plan, gateway/poll).
	DefaultMaxGap = 50
	// Protocol limits per read request (Modbus Application Protocol v1.1b3, §6.1-6.4).
	MaxReadRegisters = 125
	MaxReadBits      = 2000
)

// Gateway is the configuration a gateway runs on.
type Gateway struct {
	// Version increases with every change pushed to the gateway.
	Version int    `yaml:"version"`
	Site    string `yaml:"site"`
	Gateway string `yaml:"gateway"`
	MQTT    MQTT   `yaml:"mqtt"`
	Queue   Queue  `yaml:"queue"`
	// ProfileDirs adds profiles to the built-in library.
	ProfileDirs []string `yaml:"profile_dirs"`
	// Remote enables signed configuration pushes over MQTT.
	Remote  Remote   `yaml:"remote_config"`
	Devices []Device `yaml:"devices"`

	File string `yaml:"-"`
}

// MQTT is the broker connection.
type MQTT struct {
	// Broker is a URL: tcp://host:1883 or ssl://host:8883.
	Broker   string `yaml:"broker"`
	ClientID string `yaml:"client_id"`
	Username string `yaml:"username"`
	// Password is read from this environment variable, never stored in the file.
	PasswordEnv string `yaml:"password_env"`
	// CAFile verifies the broker (ssl://); CertFile and KeyFile are this
	// gateway's client certificate, whose CN is its identity site/gateway.
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// KeepAlive is the MQTT keepalive (default 30s).
	KeepAlive conf.Duration `yaml:"keepalive"`
}

// Remote configures signed configuration pushes.
type Remote struct {
	// PublicKey is the ed25519 key (PEM, from fwconfig keygen) that pushed
	// configs must be signed with. Empty: pushes are ignored.
	PublicKey string `yaml:"public_key"`
	// RollbackAfter: a new config under which no device answers for this
	// long is rolled back to the previous one (default 2m).
	RollbackAfter conf.Duration `yaml:"rollback_after"`
}

// Device is one Modbus device the gateway polls.
type Device struct {
	Name      string    `yaml:"name"`
	Profile   string    `yaml:"profile"`
	Transport Transport `yaml:"transport"`
	// Address is host:port for tcp and rtu-over-tcp.
	Address string `yaml:"address"`
	// Port is the serial device (/dev/ttyUSB0) for rtu, with its line settings.
	Port     string `yaml:"port"`
	Baud     int    `yaml:"baud"`
	Parity   string `yaml:"parity"`
	DataBits int    `yaml:"data_bits"`
	StopBits int    `yaml:"stop_bits"`
	// Pauses some devices and serial converters need; they apply to the
	// whole bus the device is on.
	RequestGap   conf.Duration `yaml:"request_gap"`
	UnitGap      conf.Duration `yaml:"unit_gap"`
	ConnectPause conf.Duration `yaml:"connect_pause"`

	UnitID int `yaml:"unit_id"`
	// Interval is how often the points outside poll groups are read
	// (default 10s); Timeout bounds one request (default 1s).
	Interval conf.Duration `yaml:"interval"`
	Timeout  conf.Duration `yaml:"timeout"`
	// GroupIntervals overrides the intervals of the profile's poll groups.
	GroupIntervals map[string]conf.Duration `yaml:"groups"`
	// Request planning: lower limits for devices that refuse large reads,
	// and how many unused registers may be read to join two requests.
	MaxRegisters int  `yaml:"max_registers"`
	MaxBits      int  `yaml:"max_bits"`
	MaxGap       *int `yaml:"max_gap"`
	// OfflineBackoff caps the exponential backoff of an offline device
	// (default 1m, at least Interval).
	OfflineBackoff conf.Duration `yaml:"offline_backoff"`

	// Bus is the resolved bus the device shares with every device of the
	// same address (or serial port).
	Bus Bus `yaml:"-"`
	// Groups are the device's poll groups, the default group ("", at
	// Interval) first when it has points, then by interval and name.
	Groups []Group `yaml:"-"`
	// Spec is the resolved profile.
	Spec *profile.Profile `yaml:"-"`
}

// Bus is one Modbus connection and everything serialized on it.
type Bus struct {
	// Key identifies the bus: transport and address, or the serial port.
	Key       string
	Transport Transport
	// Address is host:port, or the serial device path for rtu.
	Address string
	// Serial line settings (rtu only).
	Baud     int
	Parity   string // none, even, odd
	DataBits int
	StopBits int
	// RequestGap separates two requests; UnitGap separates requests to
	// different unit ids (many RS-485 slaves need 100-200 ms to release
	// the line); ConnectPause waits after (re)connecting.
	RequestGap   time.Duration
	UnitGap      time.Duration
	ConnectPause time.Duration
}

// Group is a set of a device's points polled together at one interval;
// each poll of it is one telemetry sample.
type Group struct {
	Name     string // "" for the points without a group
	Interval time.Duration
	Points   []*profile.Point
}

// MaxGapOrDefault is max_gap, DefaultMaxGap when unset.
func (d *Device) MaxGapOrDefault() int {
	if d.MaxGap == nil {
		return DefaultMaxGap
	}
	return *d.MaxGap
}

// LoadGateway reads, validates and resolves a gateway config file.
func LoadGateway(path string) (*Gateway, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	return ParseGateway(path, data)
}

// ParseGateway validates a gateway config and resolves its profiles from the
// built-in library and the config's profile_dirs.
func ParseGateway(file string, data []byte) (*Gateway, error) {
	var g Gateway
	d, err := conf.Decode(file, data, &g)
	if err != nil {
		return nil, err
	}
	g.File = file
	// Profile dirs are relative to the config file, as a reader of it expects.
	dirs := make([]string, len(g.ProfileDirs))
	for i, p := range g.ProfileDirs {
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(file), p)
		}
		dirs[i] = p
	}
	lib, err := profile.LoadLibrary(dirs...)
	if err != nil {
		return nil, err
	}
	g.validate(d, lib)
	if err := d.Err(); err != nil {
		return nil, err
	}
	return &g, nil
}

func (g *Gateway) validate(d *conf.Document, lib profile.Library) {
	if g.Version < 0 {
		d.Errorf("version", "must be 0 or more")
	}
	if !conf.ValidName(g.Site) {
		d.Errorf("site", "%q is not a valid name (%s)", g.Site, conf.NameRule)
	}
	if !conf.ValidName(g.Gateway) {
		d.Errorf("gateway", "%q is not a valid name (%s)", g.Gateway, conf.NameRule)
	}
	switch {
	case g.MQTT.Broker == "":
		d.Errorf("mqtt.broker", "missing; write e.g. tcp://127.0.0.1:1883")
	case !strings.HasPrefix(g.MQTT.Broker, "tcp://") && !conf.SecureBroker(g.MQTT.Broker):
		d.Errorf("mqtt.broker", "%q: want tcp://host:port, ssl://host:port or tls://host:port", g.MQTT.Broker)
	}
	d.Duration("mqtt.keepalive", &g.MQTT.KeepAlive, 30*time.Second, time.Second)
	if (g.MQTT.CertFile == "") != (g.MQTT.KeyFile == "") {
		d.Errorf("mqtt.cert_file", "cert_file and key_file go together")
	}
	if g.MQTT.CertFile != "" && !conf.SecureBroker(g.MQTT.Broker) {
		d.Errorf("mqtt.cert_file", "a client certificate needs an ssl:// broker")
	}
	d.Duration("remote_config.rollback_after", &g.Remote.RollbackAfter, 2*time.Minute, time.Second)
	if g.MQTT.ClientID == "" {
		g.MQTT.ClientID = "bw-gw-" + g.Gateway
	}
	g.Queue.validate(d) // queue.go
	if len(g.Devices) == 0 {
		d.Errorf("devices", "a gateway needs at least one device")
	}
	names := conf.Unique{What: "device name"}
	buses := map[string]*busDef{}
	for i := range g.Devices {
		dev := &g.Devices[i]
		at := fmt.Sprintf("devices[%d]", i)
		names.Check(d, at, "name", dev.Name)
		if p, ok := lib[dev.Profile]; ok {
			dev.Spec = p
		} else {
			d.Errorf(at+".profile", "unknown profile %q; known: %s", dev.Profile, strings.Join(lib.Names(), ", "))
		}
		if dev.UnitID < 0 || dev.UnitID > 255 {
			d.Errorf(at+".unit_id", "%d is outside 0..255", dev.UnitID)
		}
		d.Duration(at+".interval", &dev.Interval, 10*time.Second, profile.MinInterval)
		d.Duration(at+".timeout", &dev.Timeout, time.Second, 10*time.Millisecond)
		d.Duration(at+".offline_backoff", &dev.OfflineBackoff, time.Minute, profile.MinInterval)
		dev.OfflineBackoff.Duration = max(dev.OfflineBackoff.Duration, dev.Interval.Duration)
		if dev.MaxRegisters == 0 {
			dev.MaxRegisters = MaxReadRegisters
		} else if dev.MaxRegisters < 1 || dev.MaxRegisters > MaxReadRegisters {
			d.Errorf(at+".max_registers", "%d is outside 1..%d", dev.MaxRegisters, MaxReadRegisters)
		}
		if dev.MaxBits == 0 {
			dev.MaxBits = MaxReadBits
		} else if dev.MaxBits < 1 || dev.MaxBits > MaxReadBits {
			d.Errorf(at+".max_bits", "%d is outside 1..%d", dev.MaxBits, MaxReadBits)
		}
		if dev.MaxGap != nil && (*dev.MaxGap < 0 || *dev.MaxGap > MaxReadRegisters) {
			d.Errorf(at+".max_gap", "%d is outside 0..%d", *dev.MaxGap, MaxReadRegisters)
		}
		g.resolveBus(d, at, dev, buses)
		if dev.Spec != nil {
			dev.Groups = resolveGroups(d, at, dev)
			// A single point must fit one request of this device.
			for _, p := range dev.Spec.Points {
				if !p.Register.IsBit() && p.Words() > dev.MaxRegisters {
					d.Errorf(at+".max_registers", "%d is below the %d registers of point %s", dev.MaxRegisters, p.Words(), p.Name)
					break
				}
			}
		}
	}
	for _, b := range buses {
		for i := range g.Devices {
			if g.Devices[i].Bus.Key == b.bus.Key {
				g.Devices[i].Bus = b.bus
			}
		}
	}
}

// busDef collects a bus's settings from the devices on it: the first device
// that sets a value sets it for the bus; another device may repeat it but
// not contradict it, since one connection cannot run two ways.
type busDef struct {
	bus   Bus
	first map[string]string // setting -> the device path that set it
	units map[int]string
}

func (g *Gateway) resolveBus(d *conf.Document, at string, dev *Device, buses map[string]*busDef) {
	if dev.Transport == "" {
		dev.Transport = TCP
	}
	serialOnly := func() {
		for _, f := range []struct {
			name string
			set  bool
		}{{"port", dev.Port != ""}, {"baud", dev.Baud != 0}, {"parity", dev.Parity != ""}, {"data_bits", dev.DataBits != 0}, {"stop_bits", dev.StopBits != 0}} {
			if f.set {
				d.Errorf(at+"."+f.name, "applies to transport rtu (a serial port) only")
			}
		}
	}
	var key, addr string
	switch dev.Transport {
	case TCP, RTUOverTCP:
		if _, port, err := net.SplitHostPort(dev.Address); err != nil || port == "" {
			d.Errorf(at+".address", "%q: want host:port", dev.Address)
		}
		serialOnly()
		key, addr = string(dev.Transport)+"://"+dev.Address, dev.Address
	case RTU:
		if dev.Address != "" {
			d.Errorf(at+".address", "transport rtu reads a serial port: write port: /dev/ttyUSB0 instead of address")
		}
		if !filepath.IsAbs(dev.Port) {
			d.Errorf(at+".port", "%q: want the serial device path, e.g. /dev/ttyUSB0 or /dev/ttyS1", dev.Port)
		}
		key, addr = "rtu://"+dev.Port, dev.Port
	default:
		d.Errorf(at+".transport", "%q is not a transport; one of tcp, rtu, rtu-over-tcp", dev.Transport)
		return
	}
	b := buses[addr]
	if b == nil {
		b = &busDef{bus: Bus{Key: key, Transport: dev.Transport, Address: addr}, first: map[string]string{}, units: map[int]string{}}
		buses[addr] = b
	} else if b.bus.Transport != dev.Transport {
		d.Errorf(at+".transport", "%s, but %s uses %s on the same address; one connection cannot run two ways", dev.Transport, b.first["transport"], b.bus.Transport)
		return
	}
	b.first["transport"] = cmp.Or(b.first["transport"], at)
	dev.Bus.Key = key
	if other, dup := b.units[dev.UnitID]; dup {
		d.Errorf(at+".unit_id", "unit %d is already %s on the same bus", dev.UnitID, other)
	} else {
		b.units[dev.UnitID] = at + " (" + dev.Name + ")"
	}
	setInt := func(field string, v int, dst *int) {
		if v == 0 {
			return
		}
		if prev, ok := b.first[field]; ok && *dst != v {
			d.Errorf(at+"."+field, "%d, but %s set %d for the same bus", v, prev, *dst)
			return
		}
		b.first[field] = cmp.Or(b.first[field], at)
		*dst = v
	}
	setDur := func(field string, set conf.Duration, dst *time.Duration) {
		if !set.IsSet() {
			return
		}
		v := set.Duration
		if prev, ok := b.first[field]; ok && *dst != v {
			d.Errorf(at+"."+field, "%s, but %s set %s for the same bus", v, prev, *dst)
			return
		}
		b.first[field] = cmp.Or(b.first[field], at)
		*dst = v
	}
	setDur("request_gap", dev.RequestGap, &b.bus.RequestGap)
	setDur("unit_gap", dev.UnitGap, &b.bus.UnitGap)
	setDur("connect_pause", dev.ConnectPause, &b.bus.ConnectPause)
	if dev.Transport != RTU {
		return
	}
	switch dev.Baud {
	case 0, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200:
	default:
		d.Errorf(at+".baud", "%d is not a serial speed; one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200", dev.Baud)
	}
	setInt("baud", dev.Baud, &b.bus.Baud)
	switch strings.ToLower(dev.Parity) {
	case "":
	case "none", "n", "even", "e", "odd", "o":
		p := map[byte]string{'n': "none", 'e': "even", 'o': "odd"}[strings.ToLower(dev.Parity)[0]]
		if prev, ok := b.first["parity"]; ok && b.bus.Parity != p {
			d.Errorf(at+".parity", "%s, but %s set %s for the same bus", p, prev, b.bus.Parity)
			break
		}
		b.first["parity"] = cmp.Or(b.first["parity"], at)
		b.bus.Parity = p
	default:
		d.Errorf(at+".parity", "%q is not a parity; one of none, even, odd", dev.Parity)
	}
	if dev.DataBits != 0 && dev.DataBits != 7 && dev.DataBits != 8 {
		d.Errorf(at+".data_bits", "%d: Modbus RTU uses 8 data bits (7 only on odd old equipment)", dev.DataBits)
	}
	setInt("data_bits", dev.DataBits, &b.bus.DataBits)
	if dev.StopBits != 0 && dev.StopBits != 1 && dev.StopBits != 2 {
		d.Errorf(at+".stop_bits", "%d is not 1 or 2", dev.StopBits)
	}
	setInt("stop_bits", dev.StopBits, &b.bus.StopBits)
	// Most meters in the library ship with 9600 8N1; the Modbus serial
	// line spec's own default is 8E1, so parity is worth writing down.
	b.bus.Baud = cmp.Or(b.bus.Baud, 9600)
	b.bus.Parity = cmp.Or(b.bus.Parity, "none")
	b.bus.DataBits = cmp.Or(b.bus.DataBits, 8)
	b.bus.StopBits = cmp.Or(b.bus.StopBits, 1)
}

// resolveGroups splits the profile's points into the device's poll groups.
func resolveGroups(d *conf.Document, at string, dev *Device) []Group {
	for _, name := range slices.Sorted(maps.Keys(dev.GroupIntervals)) {
		if _, ok := dev.Spec.Groups[name]; !ok {
			d.Errorf(at+".groups."+name, "profile %s has no group %q (its groups: %s)", dev.Spec.Name, name, dev.Spec.GroupList())
		}
	}
	byName := map[string]*Group{"": {Name: "", Interval: dev.Interval.Duration}}
	for name, iv := range dev.Spec.Groups {
		if set, ok := dev.GroupIntervals[name]; ok {
			d.Duration(at+".groups."+name, &set, 0, profile.MinInterval)
			iv = set
		}
		byName[name] = &Group{Name: name, Interval: iv.Duration}
	}
	for i := range dev.Spec.Points {
		p := &dev.Spec.Points[i]
		if g := byName[p.Group]; g != nil {
			g.Points = append(g.Points, p)
		}
	}
	var out []Group
	for _, g := range byName {
		if len(g.Points) > 0 {
			out = append(out, *g)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name == "") != (out[j].Name == "") {
			return out[i].Name == ""
		}
		if out[i].Interval != out[j].Interval {
			return out[i].Interval < out[j].Interval
		}
		return out[i].Name < out[j].Name
	})
	return out
}
