package promtext

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// TestSameAsClientGolang: dashboards and alerts written for client_golang
// must find the runtime and process metrics under the same name, type and
// help.
func TestSameAsClientGolang(t *testing.T) {
	t.Parallel()
	theirs := prometheus.NewRegistry()
	theirs.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gathered, err := theirs.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*dto.MetricFamily{}
	for _, f := range gathered {
		want[f.GetName()] = f
	}

	r := NewRegistry()
	r.MustRegister(NewGoCollector(), NewProcessCollector())
	got := parse(t, render(t, r))
	for name, f := range got {
		w := want[name]
		if w == nil {
			t.Errorf("%s: client_golang has no such metric", name)
			continue
		}
		if f.GetType() != w.GetType() || f.GetHelp() != w.GetHelp() {
			t.Errorf("%s: %v %q, client_golang: %v %q", name, f.GetType(), f.GetHelp(), w.GetType(), w.GetHelp())
		}
	}

	required := []string{"go_goroutines", "go_threads", "go_info", "go_gc_duration_seconds",
		"go_memstats_heap_alloc_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_sys_bytes",
		"go_memstats_stack_inuse_bytes", "go_memstats_mallocs_total", "go_memstats_frees_total",
		"go_memstats_next_gc_bytes", "go_memstats_last_gc_time_seconds"}
	if runtime.GOOS == "linux" {
		required = append(required, "process_resident_memory_bytes", "process_virtual_memory_bytes",
			"process_cpu_seconds_total", "process_open_fds", "process_max_fds", "process_start_time_seconds",
			"process_virtual_memory_max_bytes", "process_network_receive_bytes_total", "process_network_transmit_bytes_total")
	}
	for _, name := range required {
		if got[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
	for name := range want {
		if got[name] == nil {
			t.Errorf("%s: client_golang writes it, promtext does not", name)
		}
	}
}

// TestRuntimeValues checks that the values are plausible for this
// process.
func TestRuntimeValues(t *testing.T) {
	runtime.GC() // so that the GC summary and last GC time have a value
	r := NewRegistry()
	r.MustRegister(NewGoCollector(), NewProcessCollector())
	fams := parse(t, render(t, r))
	value := func(name string) float64 {
		f := fams[name]
		if f == nil {
			t.Fatalf("%s missing", name)
		}
		m := f.Metric[0]
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_SUMMARY:
			return float64(m.GetSummary().GetSampleCount())
		}
		return m.GetGauge().GetValue()
	}
	now := float64(time.Now().Unix())
	tests := []struct {
		name   string
		lo, hi float64
	}{
		{"go_goroutines", 1, 1e5},
		{"go_threads", 1, 1e5},
		{"go_memstats_heap_alloc_bytes", 1, 1 << 34},
		{"go_memstats_heap_inuse_bytes", 1, 1 << 34},
		{"go_memstats_sys_bytes", 1 << 20, 1 << 36},
		{"go_memstats_stack_inuse_bytes", 1, 1 << 30},
		{"go_memstats_mallocs_total", 1, 1e12},
		{"go_memstats_next_gc_bytes", 1, 1 << 36},
		{"go_gc_duration_seconds", 1, 1e9},
		{"go_memstats_last_gc_time_seconds", now - 600, now + 1},
	}
	if runtime.GOOS == "linux" {
		tests = append(tests, []struct {
			name   string
			lo, hi float64
		}{
			{"process_resident_memory_bytes", 1 << 20, 1 << 36},
			{"process_virtual_memory_bytes", 1 << 20, 1 << 50},
			{"process_cpu_seconds_total", 0, 1e6},
			{"process_open_fds", 3, 1e6},
			{"process_start_time_seconds", now - 3600, now + 1},
		}...)
	}
	for _, tt := range tests {
		if v := value(tt.name); !(v >= tt.lo && v <= tt.hi) {
			t.Errorf("%s = %v, want in [%v, %v]", tt.name, v, tt.lo, tt.hi)
		}
	}
	if got := fams["go_info"].Metric[0].Label[0].GetValue(); got != runtime.Version() {
		t.Errorf("go_info version %q, want %q", got, runtime.Version())
	}
	if runtime.GOOS == "linux" {
		// This process's start time is after the test binary file was
		// written.
		exe, err := os.Executable()
		if err == nil {
			if fi, err := os.Stat(exe); err == nil && value("process_start_time_seconds") < float64(fi.ModTime().Unix())-1 {
				t.Errorf("process_start_time_seconds %v before the binary was built (%v)", value("process_start_time_seconds"), fi.ModTime())
			}
		}
	}
}
