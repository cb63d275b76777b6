package promtext

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Runtime metrics read for the go_* families. runtime/metrics is read
// instead of runtime.ReadMemStats, which stops the world; client_golang
// derives its go_memstats_* values from the same metrics.
const (
	rmHeapObjectsBytes = iota
	rmHeapUnused
	rmHeapFree
	rmHeapReleased
	rmHeapStacks
	rmOSStacks
	rmMSpanInuse
	rmMSpanFree
	rmMCacheInuse
	rmMCacheFree
	rmProfBuckets
	rmMetadataOther
	rmOther
	rmTotal
	rmAllocsBytes
	rmAllocsObjects
	rmFreesObjects
	rmTinyAllocs
	rmHeapObjects
	rmHeapGoal
	rmGOGC
	rmMemLimit
	rmGOMAXPROCS
	rmCount
)

// goCollector writes the Go runtime's metrics under client_golang's names
// and help texts (go_memstats_* as its Go 1.17+ collector computes them).
type goCollector struct {
	goroutines, threads, info, gcDuration, lastGC *Desc
	memstats                                      []goMetric

	mu      sync.Mutex // guards the buffers below, reused across scrapes
	samples []metrics.Sample
	values  [rmCount]uint64
	gc      debug.GCStats
	pauses  [5]time.Duration
}

type goMetric struct {
	d     *Desc
	value func(v *[rmCount]uint64) uint64
}

// NewGoCollector returns a collector of the go_* metrics client_golang's
// default Go collector writes: go_goroutines, go_threads, go_info,
// go_gc_duration_seconds (a summary of GC pauses), go_memstats_*,
// go_gc_gogc_percent, go_gc_gomemlimit_bytes and
// go_sched_gomaxprocs_threads.
func NewGoCollector() Collector {
	names := [rmCount]string{
		rmHeapObjectsBytes: "/memory/classes/heap/objects:bytes",
		rmHeapUnused:       "/memory/classes/heap/unused:bytes",
		rmHeapFree:         "/memory/classes/heap/free:bytes",
		rmHeapReleased:     "/memory/classes/heap/released:bytes",
		rmHeapStacks:       "/memory/classes/heap/stacks:bytes",
		rmOSStacks:         "/memory/classes/os-stacks:bytes",
		rmMSpanInuse:       "/memory/classes/metadata/mspan/inuse:bytes",
		rmMSpanFree:        "/memory/classes/metadata/mspan/free:bytes",
		rmMCacheInuse:      "/memory/classes/metadata/mcache/inuse:bytes",
		rmMCacheFree:       "/memory/classes/metadata/mcache/free:bytes",
		rmProfBuckets:      "/memory/classes/profiling/buckets:bytes",
		rmMetadataOther:    "/memory/classes/metadata/other:bytes",
		rmOther:            "/memory/classes/other:bytes",
		rmTotal:            "/memory/classes/total:bytes",
		rmAllocsBytes:      "/gc/heap/allocs:bytes",
		rmAllocsObjects:    "/gc/heap/allocs:objects",
		rmFreesObjects:     "/gc/heap/frees:objects",
		rmTinyAllocs:       "/gc/heap/tiny/allocs:objects",
		rmHeapObjects:      "/gc/heap/objects:objects",
		rmHeapGoal:         "/gc/heap/goal:bytes",
		rmGOGC:             "/gc/gogc:percent",
		rmMemLimit:         "/gc/gomemlimit:bytes",
		rmGOMAXPROCS:       "/sched/gomaxprocs:threads",
	}
	c := &goCollector{
		goroutines: NewGaugeDesc("go_goroutines", "Number of goroutines that currently exist."),
		threads:    NewGaugeDesc("go_threads", "Number of OS threads created."),
		info:       NewGaugeDesc("go_info", "Information about the Go environment.", "version"),
		gcDuration: mustDesc(typeSummary, "go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", nil, nil),
		lastGC:     NewGaugeDesc("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection."),
		samples:    make([]metrics.Sample, rmCount),
	}
	for i, n := range names {
		c.samples[i].Name = n
	}
	one := func(i int) func(v *[rmCount]uint64) uint64 {
		return func(v *[rmCount]uint64) uint64 { return v[i] }
	}
	sum := func(is ...int) func(v *[rmCount]uint64) uint64 {
		return func(v *[rmCount]uint64) uint64 {
			var n uint64
			for _, i := range is {
				n += v[i]
			}
			return n
		}
	}
	gauge := func(name, help string, value func(v *[rmCount]uint64) uint64) goMetric {
		return goMetric{NewGaugeDesc(name, help), value}
	}
	counter := func(name, help string, value func(v *[rmCount]uint64) uint64) goMetric {
		return goMetric{NewCounterDesc(name, help), value}
	}
	c.memstats = []goMetric{
		gauge("go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", one(rmHeapObjectsBytes)),
		counter("go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", one(rmAllocsBytes)),
		gauge("go_memstats_sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", one(rmTotal)),
		counter("go_memstats_mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", sum(rmAllocsObjects, rmTinyAllocs)),
		counter("go_memstats_frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", sum(rmFreesObjects, rmTinyAllocs)),
		gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", one(rmHeapObjectsBytes)),
		gauge("go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", sum(rmHeapObjectsBytes, rmHeapUnused, rmHeapReleased, rmHeapFree)),
		gauge("go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", sum(rmHeapReleased, rmHeapFree)),
		gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", sum(rmHeapObjectsBytes, rmHeapUnused)),
		gauge("go_memstats_heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", one(rmHeapReleased)),
		gauge("go_memstats_heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", one(rmHeapObjects)),
		gauge("go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", one(rmHeapStacks)),
		gauge("go_memstats_stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", sum(rmHeapStacks, rmOSStacks)),
		gauge("go_memstats_mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", one(rmMSpanInuse)),
		gauge("go_memstats_mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", sum(rmMSpanInuse, rmMSpanFree)),
		gauge("go_memstats_mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", one(rmMCacheInuse)),
		gauge("go_memstats_mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", sum(rmMCacheInuse, rmMCacheFree)),
		gauge("go_memstats_buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", one(rmProfBuckets)),
		gauge("go_memstats_gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", one(rmMetadataOther)),
		gauge("go_memstats_other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", one(rmOther)),
		gauge("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", one(rmHeapGoal)),
		gauge("go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent.", one(rmGOGC)),
		gauge("go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.", one(rmMemLimit)),
		gauge("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.", one(rmGOMAXPROCS)),
	}
	return c
}

// Describe implements Collector.
func (c *goCollector) Describe() []*Desc {
	ds := []*Desc{c.goroutines, c.threads, c.info, c.gcDuration, c.lastGC}
	for _, m := range c.memstats {
		ds = append(ds, m.d)
	}
	return ds
}

// Collect implements Collector.
func (c *goCollector) Collect(s *Scrape) {
	s.Emit(c.goroutines, float64(runtime.NumGoroutine()))
	// The length of the thread creation profile is the number of Ms;
	// asking for it without records does not stop the world.
	threads, _ := runtime.ThreadCreateProfile(nil)
	s.Emit(c.threads, float64(threads))
	s.Emit(c.info, 1, runtime.Version())

	c.mu.Lock()
	defer c.mu.Unlock()
	metrics.Read(c.samples)
	for i, sm := range c.samples {
		c.values[i] = 0
		// A metric this Go no longer has reads as KindBad: 0, as
		// client_golang reports it.
		if sm.Value.Kind() == metrics.KindUint64 {
			c.values[i] = sm.Value.Uint64()
		}
	}
	for _, m := range c.memstats {
		s.Emit(m.d, float64(m.value(&c.values)))
	}

	// ReadGCStats takes the heap lock, not the world. Quantiles 0, .25,
	// .5, .75 and 1 of the recent pauses, as client_golang writes them.
	c.gc.PauseQuantiles = c.pauses[:]
	debug.ReadGCStats(&c.gc)
	points := make([]point, len(c.pauses))
	for i, p := range c.pauses {
		points[i] = point{bound: float64(i) / float64(len(c.pauses)-1), value: p.Seconds()}
	}
	s.add(c.gcDuration, metric{points: points, sum: c.gc.PauseTotal.Seconds(), count: uint64(c.gc.NumGC)})
	s.Emit(c.lastGC, float64(c.gc.LastGC.UnixNano())/1e9)
}
