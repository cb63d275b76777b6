package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/atomicfile"
)

// Learned are the holes devices showed by refusing bridged reads
// (exception 2), by device name, kept in a small JSON file so that the next
// start plans around them instead of paying the exception again. A device
// whose profile changed starts over. The file is written, atomically, only
// when a hole is learned; deleting it makes the gateway learn again.
type Learned struct {
	path string
	mu   sync.Mutex
	devs map[string]learnedDevice
}

type learnedDevice struct {
	Profile string `json:"profile"`
	Holes   []Span `json:"holes"`
}

// LearnedPath is where a gateway keeps its learned holes: beside its queue
// folder, as <queue dir>.holes.json (not inside it: the queue owns every
// file there).
func LearnedPath(queueDir string) string {
	if queueDir == "" {
		return ""
	}
	return filepath.Clean(queueDir) + ".holes.json"
}

// LoadLearned reads the learned holes at path; a missing file is none
// learned yet. The result is usable (empty) even with an error, which a
// gateway logs and goes on: a damaged file costs exceptions, not data.
// An empty path keeps them in memory only.
func LoadLearned(path string) (*Learned, error) {
	l := &Learned{path: path, devs: map[string]learnedDevice{}}
	if path == "" {
		return l, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("learned holes: %w", err)
	}
	var devs map[string]learnedDevice
	if err := json.Unmarshal(data, &devs); err != nil {
		return l, fmt.Errorf("learned holes %s: %w (ignored; the gateway learns them again)", path, err)
	}
	for name, d := range devs {
		d.Holes = slices.DeleteFunc(d.Holes, func(s Span) bool { return s.Count <= 0 || s.Start < 0 })
		l.devs[name] = d
	}
	return l, nil
}

// Path is the file the holes are kept in ("" in memory only).
func (l *Learned) Path() string {
	if l == nil {
		return ""
	}
	return l.path
}

// Holes are the holes learned for a device with this profile, sorted.
func (l *Learned) Holes(device, profile string) []Span {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.devs[device]
	if !ok || d.Profile != profile {
		return nil
	}
	return slices.Clone(d.Holes)
}

// Add records holes of a device and reports whether anything was new; the
// file is rewritten only then. A hole inside a known one is not new;
// overlapping or touching holes of one table are joined.
func (l *Learned) Add(device, profile string, holes ...Span) (bool, error) {
	if l == nil {
		return false, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.devs[device]
	if d.Profile != profile {
		d = learnedDevice{Profile: profile}
	}
	changed := false
	for _, h := range holes {
		if h.Count <= 0 || slices.ContainsFunc(d.Holes, func(k Span) bool {
			return k.Register == h.Register && k.Start <= h.Start && h.End() <= k.End()
		}) {
			continue
		}
		d.Holes = append(d.Holes, h)
		changed = true
	}
	if !changed {
		return false, nil
	}
	d.Holes = joinSpans(d.Holes)
	l.devs[device] = d
	if l.path == "" {
		return true, nil
	}
	data, err := json.MarshalIndent(l.devs, "", "  ")
	if err != nil {
		return true, err
	}
	return true, atomicfile.Write(l.path, append(data, '\n'), 0o644)
}

// joinSpans sorts spans by table and start and joins those that overlap or
// touch.
func joinSpans(s []Span) []Span {
	slices.SortFunc(s, func(a, b Span) int {
		if a.Register != b.Register {
			if a.Register < b.Register {
				return -1
			}
			return 1
		}
		return a.Start - b.Start
	})
	var out []Span
	for _, x := range s {
		if n := len(out); n > 0 && out[n-1].Register == x.Register && x.Start <= out[n-1].End() {
			out[n-1].Count = max(out[n-1].End(), x.End()) - out[n-1].Start
			continue
		}
		out = append(out, x)
	}
	return out
}

// Carve is the parts of s that hold no register of points. A refused
// bridged read says that an address it bridged is missing from the
// device's map; the profile's points (another group's, say) are not the
// suspects, so the parts are the hole never to bridge again.
func Carve(s Span, points []*profile.Point) []Span {
	out := []Span{s}
	for _, p := range points {
		if p.Register != s.Register {
			continue
		}
		lo, hi := p.Address, p.Address+p.Words()
		var next []Span
		for _, x := range out {
			if hi <= x.Start || x.End() <= lo {
				next = append(next, x)
				continue
			}
			if x.Start < lo {
				next = append(next, Span{x.Register, x.Start, lo - x.Start})
			}
			if hi < x.End() {
				next = append(next, Span{x.Register, hi, x.End() - hi})
			}
		}
		out = next
	}
	return out
}
