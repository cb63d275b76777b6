package fwconfig

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Transport is how a gateway reaches a device.
type Transport string

const (
	TCP Transport = "tcp" // Modbus TCP
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
	Devices     []Device `yaml:"devices"`

	File string `yaml:"-"`
}

// MQTT is the broker connection.
type MQTT struct {
	// Broker is a URL: tcp://host:1883 or ssl://host:8883.
	Broker   string `yaml:"broker"`
	ClientID string `yaml:"client_id"`
	Username string `yaml:"username"`
	// Password is read from this environment variable, never stored in the file.
	PasswordEnv  string `yaml:"password_env"`
	KeepAliveRaw string `yaml:"keepalive"`

	KeepAlive time.Duration `yaml:"-"`
}

// Queue is where samples wait for the broker's acknowledgement.
type Queue struct {
	Dir string `yaml:"dir"`
}

// Device is one Modbus device the gateway polls.
type Device struct {
	Name      string    `yaml:"name"`
	Profile   string    `yaml:"profile"`
	Transport Transport `yaml:"transport"`
	// Address is host:port for tcp.
	Address     string `yaml:"address"`
	UnitID      int    `yaml:"unit_id"`
	IntervalRaw string `yaml:"interval"`
	TimeoutRaw  string `yaml:"timeout"`

	Interval time.Duration `yaml:"-"`
	Timeout  time.Duration `yaml:"-"`
	// Spec is the resolved profile.
	Spec *Profile `yaml:"-"`
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
	d, err := ParseYAML(file, data, &g)
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
	lib, err := LoadLibrary(dirs...)
	if err != nil {
		return nil, err
	}
	g.validate(d, lib)
	if err := d.Err(); err != nil {
		return nil, err
	}
	return &g, nil
}

func parseDuration(d *Document, path, raw string, def, min time.Duration) time.Duration {
	if raw == "" {
		return def
	}
	v, err := time.ParseDuration(raw)
	if err != nil {
		d.Errorf(path, "%q is not a duration (write e.g. 1s, 500ms, 1m)", raw)
		return def
	}
	if v < min {
		d.Errorf(path, "%s is below the minimum %s", v, min)
	}
	return v
}

func (g *Gateway) validate(d *Document, lib Library) {
	if g.Version < 0 {
		d.Errorf("version", "must be 0 or more")
	}
	if !validName(g.Site) {
		d.Errorf("site", "%q is not a valid name (letters, digits, - _ ., at most 64)", g.Site)
	}
	if !validName(g.Gateway) {
		d.Errorf("gateway", "%q is not a valid name (letters, digits, - _ ., at most 64)", g.Gateway)
	}
	switch {
	case g.MQTT.Broker == "":
		d.Errorf("mqtt.broker", "missing; write e.g. tcp://127.0.0.1:1883")
	case !strings.HasPrefix(g.MQTT.Broker, "tcp://") && !strings.HasPrefix(g.MQTT.Broker, "ssl://") && !strings.HasPrefix(g.MQTT.Broker, "tls://"):
		d.Errorf("mqtt.broker", "%q: want tcp://host:port, ssl://host:port or tls://host:port", g.MQTT.Broker)
	}
	g.MQTT.KeepAlive = parseDuration(d, "mqtt.keepalive", g.MQTT.KeepAliveRaw, 30*time.Second, time.Second)
	if g.MQTT.ClientID == "" {
		g.MQTT.ClientID = "bw-gw-" + g.Gateway
	}
	if g.Queue.Dir == "" {
		d.Errorf("queue.dir", "missing; the gateway keeps samples there until the broker acknowledges them")
	}
	if len(g.Devices) == 0 {
		d.Errorf("devices", "a gateway needs at least one device")
	}
	names := map[string]int{}
	for i := range g.Devices {
		dev := &g.Devices[i]
		at := fmt.Sprintf("devices[%d]", i)
		if !validName(dev.Name) {
			d.Errorf(at+".name", "%q is not a valid device name", dev.Name)
		} else if j, dup := names[dev.Name]; dup {
			d.Errorf(at+".name", "duplicate device name %q (also devices[%d])", dev.Name, j)
		} else {
			names[dev.Name] = i
		}
		if p, ok := lib[dev.Profile]; ok {
			dev.Spec = p
		} else {
			d.Errorf(at+".profile", "unknown profile %q; known: %s", dev.Profile, strings.Join(lib.Names(), ", "))
		}
		if dev.Transport == "" {
			dev.Transport = TCP
		}
		switch dev.Transport {
		case TCP:
			if _, port, err := net.SplitHostPort(dev.Address); err != nil || port == "" {
				d.Errorf(at+".address", "%q: want host:port", dev.Address)
			}
		default:
			d.Errorf(at+".transport", "%q is not a transport; one of tcp", dev.Transport)
		}
		if dev.UnitID < 0 || dev.UnitID > 255 {
			d.Errorf(at+".unit_id", "%d is outside 0..255", dev.UnitID)
		}
		dev.Interval = parseDuration(d, at+".interval", dev.IntervalRaw, 10*time.Second, 100*time.Millisecond)
		dev.Timeout = parseDuration(d, at+".timeout", dev.TimeoutRaw, time.Second, 10*time.Millisecond)
	}
}
