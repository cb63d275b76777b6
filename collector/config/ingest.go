package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

// Ingest says what the collector accepts from gateways and where it keeps
// what it refuses. The collector owns the InfluxDB schema: a gateway may
// write only device classes the profile library knows (or Classes declares),
// each (class, point) keeps one value type, and nothing it sends can land
// in a measurement of the engine. See docs/security.md.
type Ingest struct {
	// DataDir holds the dead-letter store and the learned field types.
	DataDir string `yaml:"data_dir"`
	// MaxFuture refuses samples stamped further ahead of the collector's
	// clock (a broken gateway clock would fix next week's field types).
	MaxFuture conf.Duration `yaml:"max_future"`
	// Classes are device classes beyond the profile library's.
	Classes []string `yaml:"classes"`
	// ProfileDirs are the gateways' own profile folders (relative to this
	// file), so their classes and value types are known in advance.
	ProfileDirs []string `yaml:"profile_dirs"`
	// DeadLettersMax bounds the dead-letter store on disk ("256MB").
	DeadLettersMax conf.ByteSize `yaml:"dead_letters_max"`

	Library profile.Library `yaml:"-"`
}

// Defaults of the ingest section.
const (
	DefaultDataDir        = "/var/lib/boilerwatch/collector"
	DefaultMaxFuture      = 10 * time.Minute
	DefaultDeadLettersMax = 256 << 20
)

// ReservedClasses are the measurements the collector itself writes: no
// gateway sample may land in one, whatever its class says.
var ReservedClasses = []string{
	"boiler_efficiency", "energy", "energy_intensity", "data_quality", "events", "engine_progress", "engine_sums", "engine_late",
}

// parseIngest fills defaults and validates; file locates relative folders.
func (in *Ingest) parse(d *conf.Document, file string) {
	if in.DataDir == "" {
		in.DataDir = DefaultDataDir
	} else if !filepath.IsAbs(in.DataDir) {
		in.DataDir = filepath.Join(filepath.Dir(file), in.DataDir)
	}
	in.MaxFuture.Default(DefaultMaxFuture)
	in.DeadLettersMax.Default(DefaultDeadLettersMax)
	if in.DeadLettersMax.Bytes < 1<<20 {
		raw, _ := d.Raw("ingest.dead_letters_max")
		d.Errorf("ingest.dead_letters_max", "%s is below the minimum 1MB (write e.g. 256MB)", raw)
	}
	classes := conf.Unique{What: "class name"}
	for i, c := range in.Classes {
		at := fmt.Sprintf("ingest.classes[%d]", i)
		if classes.Check(d, at, "", c) && slices.Contains(ReservedClasses, c) {
			d.Errorf(at, "%q is a measurement the collector writes itself (reserved: %v)", c, ReservedClasses)
		}
	}
	dirs := make([]string, len(in.ProfileDirs))
	for i, p := range in.ProfileDirs {
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(file), p)
		}
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			d.Errorf(fmt.Sprintf("ingest.profile_dirs[%d]", i), "%s is not a folder of profiles", p)
		}
		dirs[i] = p
	}
	lib, err := profile.LoadLibrary(dirs...)
	if err != nil {
		d.Errorf("ingest.profile_dirs", "%v", err)
		return
	}
	// A generic profile names its own measurement: it may not be one the
	// collector writes.
	for _, n := range lib.Names() {
		if m := lib[n].MeasurementName(); slices.Contains(ReservedClasses, m) {
			d.Errorf("ingest.profile_dirs", "profile %s (%s): measurement %q is one the collector writes itself (reserved: %v)", n, lib[n].File, m, ReservedClasses)
		}
	}
	in.Library = lib
}
