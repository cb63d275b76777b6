package promtext

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parse reads a page as Prometheus does, failing the test on any error.
func parse(t *testing.T, page []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(page)))
	if err != nil {
		t.Fatalf("page does not parse: %v\n%s", err, page)
	}
	return fams
}

func render(t *testing.T, r *Registry) []byte {
	t.Helper()
	b, err := r.Render()
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return b
}

// stateCollector emits what a test gives it at scrape time.
type stateCollector struct {
	descs []*Desc
	emit  func(s *Scrape)
}

func (c stateCollector) Describe() []*Desc { return c.descs }
func (c stateCollector) Collect(s *Scrape) { c.emit(s) }

func TestRender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(r *Registry)
		want  string
	}{
		{
			name:  "counter without labels reads 0 before use",
			setup: func(r *Registry) { r.NewCounter("c_total", "A counter.") },
			want: `# HELP c_total A counter.
# TYPE c_total counter
c_total 0
`,
		},
		{
			name:  "vector without children writes nothing",
			setup: func(r *Registry) { r.NewCounterVec("c_total", "A counter.", "device") },
			want:  ``,
		},
		{
			name: "families by name, samples by label values, labels by name",
			setup: func(r *Registry) {
				g := r.NewGauge("b_gauge", "")
				g.Set(-2.5)
				c := r.NewCounterVec("a_total", "Errors.", "device", "kind", "code")
				c.With("dev2", "timeout", "").Inc()
				c.With("dev1", "exception", "2").Add(3)
				c.With("dev1", "exception", "11").Inc()
				c.With("dev1", "exception", "2").Add(-1) // ignored: counters only go up
			},
			want: `# HELP a_total Errors.
# TYPE a_total counter
a_total{code="",device="dev2",kind="timeout"} 1
a_total{code="11",device="dev1",kind="exception"} 1
a_total{code="2",device="dev1",kind="exception"} 3
# TYPE b_gauge gauge
b_gauge -2.5
`,
		},
		{
			name: "histogram is cumulative with +Inf, sum and count",
			setup: func(r *Registry) {
				h := r.NewHistogramVec("h_seconds", "Took.", []float64{0.1, 1, 10}, "device")
				for _, v := range []float64{0.05, 0.1, 0.5, 3, 100} {
					h.With("d").Observe(v)
				}
				h.With("a").Observe(math.NaN())
			},
			want: `# HELP h_seconds Took.
# TYPE h_seconds histogram
h_seconds_bucket{device="a",le="0.1"} 0
h_seconds_bucket{device="a",le="1"} 0
h_seconds_bucket{device="a",le="10"} 0
h_seconds_bucket{device="a",le="+Inf"} 1
h_seconds_sum{device="a"} NaN
h_seconds_count{device="a"} 1
h_seconds_bucket{device="d",le="0.1"} 2
h_seconds_bucket{device="d",le="1"} 3
h_seconds_bucket{device="d",le="10"} 4
h_seconds_bucket{device="d",le="+Inf"} 5
h_seconds_sum{device="d"} 103.65
h_seconds_count{device="d"} 5
`,
		},
		{
			name: "histogram without labels, +Inf given",
			setup: func(r *Registry) {
				r.NewHistogram("h", "x", []float64{1, math.Inf(1)}).Observe(1)
			},
			want: `# HELP h x
# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="+Inf"} 1
h_sum 1
h_count 1
`,
		},
		{
			name: "escaping of help and label values",
			setup: func(r *Registry) {
				r.NewGaugeVec("e", "Back\\slash, \"quotes\" stay,\nnewline.", "v").With("a\\b\"c\nd\xffé").Set(1)
			},
			want: `# HELP e Back\\slash, "quotes" stay,\nnewline.
# TYPE e gauge
e{v="a\\b\"c\nd` + "\uFFFD" + `é"} 1
`,
		},
		{
			name: "collector emits at scrape time",
			setup: func(r *Registry) {
				pending := NewGaugeDesc("q_pending", "Pending.")
				state := NewGaugeDesc("dev_state", "State.", "device", "state")
				r.MustRegister(stateCollector{descs: []*Desc{pending, state}, emit: func(s *Scrape) {
					s.Emit(state, 1, "b", "online")
					s.Emit(state, 0, "a", "online")
					s.Emit(pending, 42)
				}})
			},
			want: `# HELP dev_state State.
# TYPE dev_state gauge
dev_state{device="a",state="online"} 0
dev_state{device="b",state="online"} 1
# HELP q_pending Pending.
# TYPE q_pending gauge
q_pending 42
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			tt.setup(r)
			got := render(t, r)
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			parse(t, got)
		})
	}
}

func TestAppendFloat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{1, "1"},
		{-1, "-1"},
		{42, "42"},
		{1e6, "1000000"},
		{12015880, "12015880"},
		{1 << 53, "9007199254740992"},
		{1<<53 + 2, "9.007199254740994e+15"},
		{math.MaxUint64, "1.8446744073709552e+19"},
		{0.005, "0.005"},
		{2.5, "2.5"},
		{1.5e-7, "1.5e-07"},
		{-0.25, "-0.25"},
		{math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"},
		{math.NaN(), "NaN"},
	}
	for _, tt := range tests {
		if got := string(appendFloat(nil, tt.v)); got != tt.want {
			t.Errorf("appendFloat(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

// TestParsedValues checks with Prometheus' own parser that hostile label
// values come back as they went in, and that values, types and buckets
// read as written.
func TestParsedValues(t *testing.T) {
	t.Parallel()
	hostile := []string{
		`quote"inside`,
		`back\slash`,
		`trailing\`,
		"new\nline",
		`\n literal`,
		`"}` + " 1\nfake_metric 2",
		"锅炉一号 °C",
		"",
		"tab\there",
	}
	r := NewRegistry()
	c := r.NewCounterVec("bw_errors_total", "Errors.", "device", "kind")
	h := r.NewHistogramVec("bw_poll_seconds", "Polls.", []float64{.005, .5, 10}, "device")
	g := r.NewGauge("bw_temp", "Temperature.")
	g.Set(math.Inf(-1))
	for i, v := range hostile {
		c.With(v, "timeout").Add(float64(i + 1))
		h.With(v).Observe(0.25)
	}
	fams := parse(t, render(t, r))
	if _, ok := fams["fake_metric"]; ok {
		t.Fatal("a label value injected a metric")
	}

	tests := []struct {
		family string
		typ    dto.MetricType
		n      int
	}{
		{"bw_errors_total", dto.MetricType_COUNTER, len(hostile)},
		{"bw_poll_seconds", dto.MetricType_HISTOGRAM, len(hostile)},
		{"bw_temp", dto.MetricType_GAUGE, 1},
	}
	for _, tt := range tests {
		f := fams[tt.family]
		if f == nil {
			t.Errorf("%s missing", tt.family)
			continue
		}
		if f.GetType() != tt.typ || len(f.Metric) != tt.n {
			t.Errorf("%s: type %v with %d series, want %v with %d", tt.family, f.GetType(), len(f.Metric), tt.typ, tt.n)
		}
	}

	byDevice := map[string]*dto.Metric{}
	for _, m := range fams["bw_errors_total"].Metric {
		byDevice[m.Label[0].GetValue()] = m
	}
	for i, v := range hostile {
		m := byDevice[v]
		if m == nil {
			t.Errorf("device %q did not come back; got %v", v, byDevice)
			continue
		}
		if got := m.GetCounter().GetValue(); got != float64(i+1) {
			t.Errorf("device %q: counter %v, want %d", v, got, i+1)
		}
	}
	for _, m := range fams["bw_poll_seconds"].Metric {
		hist := m.GetHistogram()
		var got []uint64
		for _, b := range hist.Bucket {
			got = append(got, b.GetCumulativeCount())
		}
		// The parser keeps +Inf as a bucket too.
		want := []uint64{0, 1, 1, 1}
		if len(got) != len(want) || got[0] != 0 || got[1] != 1 || got[2] != 1 || got[3] != 1 ||
			hist.GetSampleCount() != 1 || hist.GetSampleSum() != 0.25 {
			t.Errorf("histogram of %q: buckets %v sum %v count %v, want %v 0.25 1", m.Label[0].GetValue(), got, hist.GetSampleSum(), hist.GetSampleCount(), want)
		}
	}
	if v := fams["bw_temp"].Metric[0].GetGauge().GetValue(); !math.IsInf(v, -1) {
		t.Errorf("bw_temp = %v, want -Inf", v)
	}
}

func TestInvalidDefinitions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(r *Registry)
	}{
		{"empty name", func(r *Registry) { r.NewCounter("", "x") }},
		{"name with dash", func(r *Registry) { r.NewCounter("a-b", "x") }},
		{"name starting with digit", func(r *Registry) { r.NewGauge("1a", "x") }},
		{"label with colon", func(r *Registry) { r.NewCounterVec("a", "x", "b:c") }},
		{"reserved label", func(r *Registry) { r.NewCounterVec("a", "x", "__name") }},
		{"label twice", func(r *Registry) { r.NewCounterVec("a", "x", "b", "b") }},
		{"le on a histogram", func(r *Registry) { r.NewHistogramVec("a", "x", []float64{1}, "le") }},
		{"buckets not increasing", func(r *Registry) { r.NewHistogram("a", "x", []float64{1, 1}) }},
		{"NaN bucket", func(r *Registry) { r.NewHistogram("a", "x", []float64{math.NaN()}) }},
		{"same name twice", func(r *Registry) { r.NewCounter("a", "x"); r.NewGauge("a", "y") }},
		{"wrong number of label values", func(r *Registry) { r.NewCounterVec("a", "x", "b", "c").With("1") }},
		{"collector describing a taken name", func(r *Registry) {
			r.NewCounter("a", "x")
			r.MustRegister(stateCollector{descs: []*Desc{NewGaugeDesc("a", "y")}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.setup(NewRegistry())
		})
	}
}

func TestCollectorErrors(t *testing.T) {
	t.Parallel()
	mine := NewGaugeDesc("mine", "x", "device")
	other := NewGaugeDesc("other", "x")
	tests := []struct {
		name string
		emit func(s *Scrape)
		want string
	}{
		{"undescribed family", func(s *Scrape) { s.Emit(other, 1) }, "not described"},
		{"too few label values", func(s *Scrape) { s.Emit(mine, 1) }, "0 label values for 1"},
		{"same labels twice", func(s *Scrape) { s.Emit(mine, 1, "a"); s.Emit(mine, 2, "a") }, "two samples"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			r.MustRegister(stateCollector{descs: []*Desc{mine}, emit: tt.emit})
			if _, err := r.Render(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Render error %v, want one containing %q", err, tt.want)
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			if rec.Code != http.StatusInternalServerError {
				t.Errorf("ServeHTTP: %d, want 500", rec.Code)
			}
		})
	}
}

func TestServeHTTP(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	r.NewCounter("a_total", "x").Inc()
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != ContentType {
		t.Fatalf("%d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if got := expfmt.ResponseFormat(rec.Header()); got.FormatType() != expfmt.TypeTextPlain {
		t.Errorf("Prometheus reads the content type as %v, want text", got)
	}
	if want := "# HELP a_total x\n# TYPE a_total counter\na_total 1\n"; rec.Body.String() != want {
		t.Errorf("body %q, want %q", rec.Body.String(), want)
	}
}

// TestNoAllocation: the gateway observes on every poll, about 50 times a
// second; an observation on a label set already seen must not allocate.
func TestNoAllocation(t *testing.T) {
	r := NewRegistry()
	h := r.NewHistogramVec("h", "x", []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "device")
	c3 := r.NewCounterVec("c", "x", "device", "kind", "code")
	g := r.NewGaugeVec("g", "x", "kind")
	c := r.NewCounter("c0", "x")
	device, kind, code := "boiler-house-2/steam-meter-17", "timeout", ""
	h.With(device).Observe(1)
	c3.With(device, kind, code).Inc()
	g.With(kind).Set(1)
	kept := h.With(device)
	tests := []struct {
		name string
		f    func()
	}{
		{"HistogramVec.With.Observe", func() { h.With(device).Observe(0.3) }},
		{"kept Histogram.Observe", func() { kept.Observe(0.3) }},
		{"CounterVec.With 3 labels.Inc", func() { c3.With(device, kind, code).Inc() }},
		{"GaugeVec.With.Set", func() { g.With(kind).Set(2) }},
		{"Counter.Add", func() { c.Add(2) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", tt.name, n)
		}
	}
}

func BenchmarkObserve(b *testing.B) {
	r := NewRegistry()
	h := r.NewHistogramVec("h", "x", []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "device")
	b.ReportAllocs()
	for b.Loop() {
		h.With("dev1").Observe(0.3)
	}
}

// TestConcurrent observes, adds label sets and scrapes at once; run it
// with -race. The totals must come out exact.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	h := r.NewHistogramVec("h", "x", []float64{1, 2}, "device")
	c := r.NewCounterVec("c_total", "x", "device", "kind")
	g := r.NewGauge("g", "x")
	r.MustRegister(NewGoCollector(), NewProcessCollector())
	const workers, n = 8, 500
	devices := []string{"a", "b", "c", "d", "e"}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range n {
				d := devices[(w+i)%len(devices)]
				h.With(d).Observe(float64(i % 3))
				c.With(d, "timeout").Inc()
				g.Add(1)
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 20 {
				if _, err := r.Render(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	fams := parse(t, render(t, r))
	var total uint64
	var sum float64
	for _, m := range fams["h"].Metric {
		total += m.GetHistogram().GetSampleCount()
		sum += m.GetHistogram().GetSampleSum()
		if b := m.GetHistogram().Bucket; b[len(b)-1].GetCumulativeCount() != m.GetHistogram().GetSampleCount() {
			t.Errorf("+Inf bucket %d != count %d", b[len(b)-1].GetCumulativeCount(), m.GetHistogram().GetSampleCount())
		}
	}
	var counted float64
	for _, m := range fams["c_total"].Metric {
		counted += m.GetCounter().GetValue()
	}
	// i%3 over 0..n-1 sums to (n/3)*3 + the remainder.
	wantSum := 0.0
	for i := range n {
		wantSum += float64(i % 3)
	}
	wantSum *= workers
	if total != workers*n || counted != workers*n || sum != wantSum || g.Value() != workers*n {
		t.Errorf("count %d, counter %v, sum %v, gauge %v; want %d, %d, %v, %d", total, counted, sum, g.Value(), workers*n, workers*n, wantSum, workers*n)
	}
}
