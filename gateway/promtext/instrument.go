package promtext

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// Counter is a value that only goes up. It is safe for concurrent use.
type Counter struct{ bits atomic.Uint64 }

// Inc adds 1.
func (c *Counter) Inc() { addFloat(&c.bits, 1) }

// Add adds v. A negative or NaN v is ignored: a counter that went down
// would read as a process restart to rate().
func (c *Counter) Add(v float64) {
	if v >= 0 {
		addFloat(&c.bits, v)
	}
}

// Value returns the current value.
func (c *Counter) Value() float64 { return math.Float64frombits(c.bits.Load()) }

// Gauge is a value that goes up and down. It is safe for concurrent use.
type Gauge struct{ bits atomic.Uint64 }

// Set sets the value to v.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Add adds v, which may be negative.
func (g *Gauge) Add(v float64) { addFloat(&g.bits, v) }

// Inc adds 1.
func (g *Gauge) Inc() { addFloat(&g.bits, 1) }

// Dec subtracts 1.
func (g *Gauge) Dec() { addFloat(&g.bits, -1) }

// Value returns the current value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

// addFloat adds v to the float64 whose bits u holds.
func addFloat(u *atomic.Uint64, v float64) {
	for {
		old := u.Load()
		if u.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Histogram counts observations in buckets and sums them. It is safe for
// concurrent use.
type Histogram struct {
	buckets []float64 // upper bounds, without +Inf; shared by a family
	// counts are per bucket, not cumulative, so that an observation
	// touches one of them; the last is +Inf's. The count of observations
	// is their sum, so _count always equals the +Inf bucket.
	counts []atomic.Uint64
	sum    atomic.Uint64 // float64 bits
}

func newHistogram(buckets []float64) *Histogram {
	return &Histogram{buckets: buckets, counts: make([]atomic.Uint64, len(buckets)+1)}
}

// Observe records v. NaN counts in the +Inf bucket, as in client_golang.
func (h *Histogram) Observe(v float64) {
	// The first bucket whose bound is ≥ v, by binary search.
	i, j := 0, len(h.buckets)
	for i < j {
		m := int(uint(i+j) >> 1)
		if !(h.buckets[m] >= v) {
			i = m + 1
		} else {
			j = m
		}
	}
	h.counts[i].Add(1)
	addFloat(&h.sum, v)
}

// snapshot fills m with the cumulative bucket counts, sum and count.
func (h *Histogram) snapshot(m *metric) {
	m.points = make([]point, len(h.counts))
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
		bound := math.Inf(1)
		if i < len(h.buckets) {
			bound = h.buckets[i]
		}
		m.points[i] = point{bound: bound, value: float64(n)}
	}
	m.count = n
	m.sum = math.Float64frombits(h.sum.Load())
}

// family holds the children of one instrument family by their label
// values, and collects them.
type family[T any] struct {
	desc     *Desc
	newChild func() *T
	snapshot func(*T, *metric)
	mu       sync.Mutex // serializes adding children
	// children is replaced, never changed, when a label set is first
	// seen, so that With reads it without a lock. Each new label set
	// copies the map: fine for the tens to hundreds of label sets a
	// family of the gateway has.
	children atomic.Pointer[map[string]child[T]]
}

type child[T any] struct {
	labels []string
	v      *T
}

func newFamily[T any](d *Desc, newChild func() *T, snapshot func(*T, *metric)) *family[T] {
	f := &family[T]{desc: d, newChild: newChild, snapshot: snapshot}
	f.children.Store(&map[string]child[T]{})
	return f
}

// with returns the child of the label values, made when first asked for.
// Finding an existing child does not allocate: a single value is the map
// key itself, and several are encoded into a stack buffer that the map
// lookup reads without converting it into a new string.
func (f *family[T]) with(values []string) *T {
	if len(values) != len(f.desc.labels) {
		panic("promtext: " + f.desc.name + ": " + strconv.Itoa(len(values)) + " label values for " +
			strconv.Itoa(len(f.desc.labels)) + " label names")
	}
	m := *f.children.Load()
	switch len(values) {
	case 0:
		if c, ok := m[""]; ok {
			return c.v
		}
	case 1:
		if c, ok := m[values[0]]; ok {
			return c.v
		}
	default:
		var buf [128]byte
		if c, ok := m[string(appendKey(buf[:0], values))]; ok {
			return c.v
		}
	}
	return f.add(values)
}

func (f *family[T]) add(values []string) *T {
	key := ""
	switch len(values) {
	case 0:
	case 1:
		key = values[0]
	default:
		key = string(appendKey(nil, values))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.children.Load()
	if c, ok := old[key]; ok {
		return c.v
	}
	next := make(map[string]child[T], len(old)+1)
	maps.Copy(next, old)
	c := child[T]{labels: slices.Clone(values), v: f.newChild()}
	next[key] = c
	f.children.Store(&next)
	return c.v
}

// appendKey encodes label values unambiguously: each value is prefixed
// with its length, so no value can forge a separator.
func appendKey(b []byte, values []string) []byte {
	for _, v := range values {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// Describe implements Collector.
func (f *family[T]) Describe() []*Desc { return []*Desc{f.desc} }

// Collect implements Collector.
func (f *family[T]) Collect(s *Scrape) {
	for _, c := range *f.children.Load() {
		m := metric{labels: c.labels}
		f.snapshot(c.v, &m)
		s.add(f.desc, m)
	}
}

// CounterVec is a counter family with label names.
type CounterVec struct{ f *family[Counter] }

// With returns the counter of the label values, given in the order of the
// family's label names. Callers may keep it. It panics if the number of
// values is wrong.
func (v *CounterVec) With(labelValues ...string) *Counter { return v.f.with(labelValues) }

// GaugeVec is a gauge family with label names.
type GaugeVec struct{ f *family[Gauge] }

// With returns the gauge of the label values, given in the order of the
// family's label names. Callers may keep it. It panics if the number of
// values is wrong.
func (v *GaugeVec) With(labelValues ...string) *Gauge { return v.f.with(labelValues) }

// HistogramVec is a histogram family with label names.
type HistogramVec struct{ f *family[Histogram] }

// With returns the histogram of the label values, given in the order of
// the family's label names. Callers may keep it. It panics if the number
// of values is wrong.
func (v *HistogramVec) With(labelValues ...string) *Histogram { return v.f.with(labelValues) }

// NewCounterVec registers a counter family. It panics if the name or a
// label name is invalid or the name is taken.
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	f := newFamily(mustDesc(typeCounter, name, help, labels, nil),
		func() *Counter { return new(Counter) },
		func(c *Counter, m *metric) { m.value = c.Value() })
	r.MustRegister(f)
	return &CounterVec{f}
}

// NewCounter registers a counter without labels, which reads 0 until it
// is first incremented. It panics as NewCounterVec does.
func (r *Registry) NewCounter(name, help string) *Counter {
	return r.NewCounterVec(name, help).With()
}

// NewGaugeVec registers a gauge family. It panics if the name or a label
// name is invalid or the name is taken.
func (r *Registry) NewGaugeVec(name, help string, labels ...string) *GaugeVec {
	f := newFamily(mustDesc(typeGauge, name, help, labels, nil),
		func() *Gauge { return new(Gauge) },
		func(g *Gauge, m *metric) { m.value = g.Value() })
	r.MustRegister(f)
	return &GaugeVec{f}
}

// NewGauge registers a gauge without labels. It panics as NewGaugeVec
// does.
func (r *Registry) NewGauge(name, help string) *Gauge {
	return r.NewGaugeVec(name, help).With()
}

// NewHistogramVec registers a histogram family with the buckets' upper
// bounds (strictly increasing; +Inf is added). It panics if the name, a
// label name ("le" is reserved) or the buckets are invalid, or the name is
// taken.
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	d := mustDesc(typeHistogram, name, help, labels, buckets)
	f := newFamily(d,
		func() *Histogram { return newHistogram(d.buckets) },
		(*Histogram).snapshot)
	r.MustRegister(f)
	return &HistogramVec{f}
}

// NewHistogram registers a histogram without labels. It panics as
// NewHistogramVec does.
func (r *Registry) NewHistogram(name, help string, buckets []float64) *Histogram {
	return r.NewHistogramVec(name, help, buckets).With()
}
