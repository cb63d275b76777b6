// Package promtext keeps metrics and writes them in the Prometheus text
// exposition format 0.0.4, for the gateway.
//
// It exists because github.com/prometheus/client_golang, with protobuf,
// cost the gateway 2 MB of its linux/arm binary (10.1 → 8.1 MB stripped)
// and about 2 MB of peak resident memory polling 50 devices (20.5 → 18.5
// MB), on boxes where it must stay under 10 and 20 MB. It covers what the gateway
// uses and no more: counters, gauges and histograms with fixed label
// names, collectors that read state at scrape time, and the Go runtime and
// process metrics under the names client_golang gives them, so dashboards
// and alerts work unchanged.
//
// Names, label names and buckets are constants of a program, so the
// constructors panic on invalid ones, as regexp.MustCompile does.
// Observations never allocate once a label set has been seen.
package promtext

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// ContentType is the media type of what Registry writes.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// typ is a family's TYPE in the exposition.
type typ string

const (
	typeCounter   typ = "counter"
	typeGauge     typ = "gauge"
	typeHistogram typ = "histogram"
	typeSummary   typ = "summary"
)

// Desc describes one metric family: its name, help text, type and label
// names. It is immutable and may be shared by registries.
type Desc struct {
	name   string
	help   string
	typ    typ
	labels []string
	// order lists indexes into labels by label name: samples are written
	// with their labels sorted by name, as client_golang writes them.
	order []int
	// buckets are a histogram's upper bounds without +Inf.
	buckets []float64
}

// NewCounterDesc describes a counter family for a Collector. It panics if
// the name or a label name is invalid.
func NewCounterDesc(name, help string, labels ...string) *Desc {
	return mustDesc(typeCounter, name, help, labels, nil)
}

// NewGaugeDesc describes a gauge family for a Collector. It panics if the
// name or a label name is invalid.
func NewGaugeDesc(name, help string, labels ...string) *Desc {
	return mustDesc(typeGauge, name, help, labels, nil)
}

func mustDesc(t typ, name, help string, labels []string, buckets []float64) *Desc {
	d, err := newDesc(t, name, help, labels, buckets)
	if err != nil {
		panic(err)
	}
	return d
}

func newDesc(t typ, name, help string, labels []string, buckets []float64) (*Desc, error) {
	if !validName(name, true) {
		return nil, fmt.Errorf("promtext: invalid metric name %q", name)
	}
	d := &Desc{name: name, help: help, typ: t, labels: slices.Clone(labels), order: make([]int, len(labels))}
	for i, l := range labels {
		if !validName(l, false) || len(l) >= 2 && l[:2] == "__" {
			return nil, fmt.Errorf("promtext: %s: invalid label name %q", name, l)
		}
		if t == typeHistogram && l == "le" || t == typeSummary && l == "quantile" {
			return nil, fmt.Errorf("promtext: %s: label name %q is reserved for a %s", name, l, t)
		}
		if slices.Index(labels, l) != i {
			return nil, fmt.Errorf("promtext: %s: label name %q twice", name, l)
		}
		d.order[i] = i
	}
	slices.SortFunc(d.order, func(a, b int) int { return cmp.Compare(labels[a], labels[b]) })
	if t == typeHistogram {
		if len(buckets) > 0 && math.IsInf(buckets[len(buckets)-1], 1) {
			// +Inf is always there; a caller may list it or not.
			buckets = buckets[:len(buckets)-1]
		}
		for i, b := range buckets {
			if math.IsNaN(b) || math.IsInf(b, 0) || i > 0 && !(buckets[i-1] < b) {
				return nil, fmt.Errorf("promtext: %s: buckets must be finite and increase strictly, got %v", name, buckets)
			}
		}
		d.buckets = slices.Clone(buckets)
	}
	return d, nil
}

// validName reports whether s is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)
// or, without colons, a label name.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' || colon && c == ':'
		if !ok {
			return false
		}
	}
	return true
}

// Collector provides metric families whose values are read at scrape time
// instead of being recorded as events happen.
type Collector interface {
	// Describe returns the families Collect emits samples of. It must
	// return the same descriptions every time.
	Describe() []*Desc
	// Collect emits the current samples. Concurrent scrapes call it
	// concurrently.
	Collect(s *Scrape)
}

// Scrape receives the samples of one Collector during one scrape.
type Scrape struct {
	owner int
	index map[*Desc]slot
	out   [][]metric
	errs  []error
}

// slot locates a family in a scrape.
type slot struct {
	pos   int // in Registry.descs, ordered by name
	owner int // index of the collector that describes it
}

// metric is one sample of a counter or gauge, or one series of a
// histogram or summary, as gathered for writing.
type metric struct {
	labels []string // values, in the family's label order
	value  float64  // counter, gauge
	// points are a histogram's cumulative bucket counts (bound = le) or a
	// summary's quantiles (bound = quantile).
	points []point
	sum    float64
	count  uint64
}

type point struct{ bound, value float64 }

// Emit adds a sample of d with the label values in d's label order. An
// emission of a family the collector did not describe, with the wrong
// number of label values or twice with the same label values fails the
// scrape, as client_golang fails it.
func (s *Scrape) Emit(d *Desc, v float64, labelValues ...string) {
	if d.typ != typeCounter && d.typ != typeGauge {
		s.errs = append(s.errs, fmt.Errorf("promtext: %s: Emit of a %s", d.name, d.typ))
		return
	}
	s.add(d, metric{labels: slices.Clone(labelValues), value: v})
}

func (s *Scrape) add(d *Desc, m metric) {
	sl, ok := s.index[d]
	switch {
	case !ok || sl.owner != s.owner:
		s.errs = append(s.errs, fmt.Errorf("promtext: %s emitted but not described by its collector", d.name))
	case len(m.labels) != len(d.labels):
		s.errs = append(s.errs, fmt.Errorf("promtext: %s: %d label values for %d label names", d.name, len(m.labels), len(d.labels)))
	default:
		s.out[sl.pos] = append(s.out[sl.pos], m)
	}
}

// Registry holds metric families and writes them. Its zero value is not
// usable; make one with NewRegistry.
type Registry struct {
	mu sync.Mutex
	// reg is replaced, never changed, on each registration, so that a
	// scrape reads it without holding mu.
	reg atomic.Pointer[registered]
	// size is the length of the last page, to allocate the next at once.
	size atomic.Int64
}

// registered is what a Registry holds at one time.
type registered struct {
	collectors []Collector
	descs      []*Desc // by name
	index      map[*Desc]slot
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	r.reg.Store(&registered{index: map[*Desc]slot{}})
	return r
}

// Register adds c. It fails if one of c's families has the name of a
// family already registered, or if c describes a family twice.
func (r *Registry) Register(c Collector) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.reg.Load()
	descs := append(slices.Clone(old.descs), c.Describe()...)
	slices.SortStableFunc(descs, func(a, b *Desc) int { return cmp.Compare(a.name, b.name) })
	next := &registered{collectors: append(slices.Clip(old.collectors), c), descs: descs, index: make(map[*Desc]slot, len(descs))}
	for i, d := range descs {
		if i > 0 && descs[i-1].name == d.name {
			return fmt.Errorf("promtext: metric %s registered twice", d.name)
		}
		owner := len(old.collectors)
		if sl, ok := old.index[d]; ok {
			owner = sl.owner
		}
		next.index[d] = slot{pos: i, owner: owner}
	}
	r.reg.Store(next)
	return nil
}

// MustRegister registers each collector and panics if one fails.
func (r *Registry) MustRegister(cs ...Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Render returns the page that /metrics serves: families by name, their
// samples by label values. It fails without a page if a collector emitted
// something invalid.
func (r *Registry) Render() ([]byte, error) {
	reg := r.reg.Load()
	s := &Scrape{index: reg.index, out: make([][]metric, len(reg.descs))}
	for i, c := range reg.collectors {
		s.owner = i
		c.Collect(s)
	}
	b := make([]byte, 0, r.size.Load()+512)
	for i, d := range reg.descs {
		ms := s.out[i]
		if len(ms) == 0 {
			// As client_golang: a vector with no children yet
			// writes nothing, not even its HELP.
			continue
		}
		slices.SortFunc(ms, func(a, b metric) int { return compareLabels(d, a.labels, b.labels) })
		for j := 1; j < len(ms); j++ {
			if compareLabels(d, ms[j-1].labels, ms[j].labels) == 0 {
				s.errs = append(s.errs, fmt.Errorf("promtext: %s: two samples with label values %q", d.name, ms[j].labels))
			}
		}
		b = appendFamily(b, d, ms)
	}
	if err := errors.Join(s.errs...); err != nil {
		return nil, err
	}
	r.size.Store(int64(len(b)))
	return b, nil
}

// compareLabels orders label values by the labels' names, the order in
// which they are written.
func compareLabels(d *Desc, a, b []string) int {
	for _, i := range d.order {
		if c := cmp.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// ServeHTTP answers a scrape with the page, or 500 with the error, as
// promhttp does by default.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	b, err := r.Render()
	if err != nil {
		http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}
