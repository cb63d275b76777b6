package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/atomicfile"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Schema is what the collector lets gateways store: which measurements
// (device classes) they may write, the one value type of each (class,
// point), and how far ahead of the collector's clock a sample may be
// stamped. InfluxDB fixes a field's type per shard on its first write, so a
// gateway left to decide would decide for everyone, next week's shard
// included; the collector decides instead.
type Schema struct {
	classes   map[string]bool
	profiles  map[fieldKey]telemetry.Kind // the profile library's points
	maxFuture time.Duration
	now       func() time.Time

	mu      sync.Mutex
	learned map[fieldKey]telemetry.Kind // points no profile declares, typed by their first value
	dirty   bool
	path    string
}

type fieldKey struct{ class, point string }

// MaxLearned bounds the points learned from telemetry: a gateway inventing
// point names would otherwise add fields (and a file entry) without end.
const MaxLearned = 10000

// SchemaOptions configure NewSchema.
type SchemaOptions struct {
	// Library gives the classes and the value type of every profile point.
	Library profile.Library
	// Classes are accepted besides the device classes profiles may declare.
	Classes []string
	// MaxFuture: samples stamped further ahead of now are refused.
	MaxFuture time.Duration
	// Path persists the learned types; empty keeps them in memory (tests).
	Path string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// NewSchema builds the schema from the profiles and the learned types
// persisted at o.Path. Two profiles of one class that give a point
// different types are an error: InfluxDB could store only one of them.
func NewSchema(o SchemaOptions) (*Schema, error) {
	s := &Schema{classes: map[string]bool{}, profiles: map[fieldKey]telemetry.Kind{}, learned: map[fieldKey]telemetry.Kind{},
		maxFuture: o.MaxFuture, now: o.Now, path: o.Path}
	if s.now == nil {
		s.now = time.Now
	}
	for _, c := range o.Classes {
		s.classes[c] = true
	}
	from := map[fieldKey]string{}
	for _, name := range o.Library.Names() {
		p := o.Library[name]
		// A generic profile's samples carry its measurement as their class.
		class := p.MeasurementName()
		s.classes[class] = true
		for i := range p.Points {
			pt := &p.Points[i]
			k, kind := fieldKey{class, pt.Name}, pointKind(pt)
			if have, ok := s.profiles[k]; ok && have != kind {
				return nil, fmt.Errorf("profiles %s and %s: measurement %s point %s is %s in one and %s in the other",
					from[k], name, class, pt.Name, kindName(have), kindName(kind))
			}
			s.profiles[k], from[k] = kind, name
		}
	}
	if s.path == "" {
		return s, nil
	}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("learned field types: %w", err)
	}
	var file map[string]map[string]string
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("learned field types %s: %w", s.path, err)
	}
	for class, points := range file {
		for point, kn := range points {
			kind, ok := kindByName[kn]
			if !ok {
				return nil, fmt.Errorf("learned field types %s: %s.%s: unknown type %q", s.path, class, point, kn)
			}
			s.learned[fieldKey{class, point}] = kind
		}
	}
	return s, nil
}

// Classes are the measurements samples may be stored in, sorted: the
// profiles' device classes and those the configuration adds.
func (s *Schema) Classes() []string {
	return slices.Sorted(maps.Keys(s.classes))
}

func pointKind(p *profile.Point) telemetry.Kind {
	switch {
	case p.Register.IsBit() || p.Type == profile.Bool:
		return telemetry.KindBool
	case p.Type == profile.String:
		return telemetry.KindString
	}
	return telemetry.KindNumber
}

var kindByName = map[string]telemetry.Kind{"number": telemetry.KindNumber, "bool": telemetry.KindBool, "string": telemetry.KindString}

func kindName(k telemetry.Kind) string {
	for n, v := range kindByName {
		if v == k {
			return n
		}
	}
	return "none"
}

// Refusal reasons of the schema.
const (
	ReasonUnknownClass = "unknown_class"
	ReasonFuture       = "future"
	ReasonType         = "type_mismatch"
	ReasonTooManyPts   = "too_many_points"
)

// Problem is a part of a message that the collector does not store.
type Problem struct {
	Reason string `json:"reason"`
	// Device and Point say which sample and value; empty for the whole
	// message.
	Device string `json:"device,omitempty"`
	Point  string `json:"point,omitempty"`
	Detail string `json:"detail"`
}

// Check takes out of m the samples that may not be stored (a class the
// schema does not know, a stamp too far ahead) and marks bad, with the
// reason, each value whose type is not its point's. What it refused it
// returns. A value of a point seen for the first time fixes that point's
// type; Persist stores it before the write that relies on it.
func (s *Schema) Check(m *telemetry.Message) []Problem {
	var probs []Problem
	limit := s.now().Add(s.maxFuture).UnixMilli()
	kept := m.Samples[:0]
	for _, smp := range m.Samples {
		switch {
		case !s.classes[smp.Class]:
			probs = append(probs, Problem{Reason: ReasonUnknownClass, Device: smp.Device,
				Detail: fmt.Sprintf("class %q is not a device class of the profile library or of ingest.classes", smp.Class)})
			continue
		case smp.TS > limit:
			probs = append(probs, Problem{Reason: ReasonFuture, Device: smp.Device,
				Detail: fmt.Sprintf("stamped %s, more than %s after the collector's clock", time.UnixMilli(smp.TS).UTC().Format(time.RFC3339), s.maxFuture)})
			continue
		}
		for name, v := range smp.Values {
			if v.Q != telemetry.Good {
				continue
			}
			want, ok := s.kind(smp.Class, name, v.Kind)
			switch {
			case !ok:
				probs = append(probs, Problem{Reason: ReasonTooManyPts, Device: smp.Device, Point: name,
					Detail: fmt.Sprintf("%d points learned already; declare this one in a profile (ingest.profile_dirs)", MaxLearned)})
			case want != v.Kind:
				probs = append(probs, Problem{Reason: ReasonType, Device: smp.Device, Point: name,
					Detail: fmt.Sprintf("%s value for %s.%s, which holds %ss", kindName(v.Kind), smp.Class, name, kindName(want))})
			default:
				continue
			}
			smp.Values[name] = telemetry.BadValue(probs[len(probs)-1].Reason + ": " + probs[len(probs)-1].Detail)
		}
		kept = append(kept, smp)
	}
	m.Samples = kept
	return probs
}

// kind is the type of class.point; a point of no profile takes the kind of
// its first value. ok is false when the point is new and MaxLearned full.
func (s *Schema) kind(class, point string, first telemetry.Kind) (telemetry.Kind, bool) {
	k := fieldKey{class, point}
	if kind, ok := s.profiles[k]; ok {
		return kind, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if kind, ok := s.learned[k]; ok {
		return kind, true
	}
	if len(s.learned) >= MaxLearned {
		return 0, false
	}
	s.learned[k] = first
	s.dirty = true
	return first, true
}

// Persist writes the learned types if any were added since the last call.
func (s *Schema) Persist() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty || s.path == "" {
		s.dirty = false
		return nil
	}
	file := map[string]map[string]string{}
	for k, kind := range s.learned {
		if file[k.class] == nil {
			file[k.class] = map[string]string{}
		}
		file[k.class][k.point] = kindName(kind)
	}
	data, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.path, append(data, '\n'), 0o640); err != nil {
		return fmt.Errorf("learned field types: %w", err)
	}
	s.dirty = false
	return nil
}

// Learned lists the learned types as "class.point type", sorted.
func (s *Schema) Learned() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.learned))
	for k, kind := range s.learned {
		out = append(out, k.class+"."+k.point+" "+kindName(kind))
	}
	sort.Strings(out)
	return out
}
