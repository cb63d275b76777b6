package store_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// TestSamplesPathsAgree writes raw samples shaped like the collector's
// (measurement = class; tags device, gateway, profile, site; numbers,
// integers, booleans, strings and _seq) into InfluxDB 1.8 and reads them
// through InfluxQL and through Flux: for every filter both give the same
// samples, value bits, times and order within each series, once cut to
// [Start, Stop) (1.8's Flux also returns a sample at Stop). The engine's
// figures are exact only if its inputs are.
func TestSamplesPathsAgree(t *testing.T) {
	in := servicetest.StartInflux(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := store.Open(store.Config{URL: in.URL, Bucket: in.Bucket})
	t.Cleanup(st.Close)
	if err := st.EnsureDatabase(ctx); err != nil {
		t.Fatal(err)
	}
	if v1, err := store.IsV1(st, ctx); err != nil || !v1 {
		t.Fatalf("InfluxDB 1.8 taken for 1.x: %t, %v", v1, err)
	}
	t0 := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(17, 4))
	// Floats of every kind: random bit patterns (every exponent), the
	// edges, negative zero, and values a decimal form might round.
	special := []float64{0, math.Copysign(0, -1), 0.1, 1.0 / 3, -2.5, 1e21, 1e-7, 123456789.125, math.MaxFloat64, -math.MaxFloat64,
		math.SmallestNonzeroFloat64, 2.2250738585072014e-308, 4.9406564584124654e-324 * 3, 9007199254740993, 0.30000000000000004}
	float := func(i int) float64 {
		if i < len(special) {
			return special[i]
		}
		for {
			f := math.Float64frombits(rng.Uint64())
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f
			}
		}
	}
	ints := []int64{0, -1, 1 << 53, 1<<53 + 1, -(1<<53 + 1), math.MaxInt64, math.MinInt64, 1234567890123456789}
	sites := []string{"plant-a", "plant.b", "plant(c)|d", "site/e", `quote"f`, "水厂"}
	tagEsc := strings.NewReplacer(`,`, `\,`, `=`, `\=`, ` `, `\ `)
	var lines bytes.Buffer
	n := 0
	for s, site := range sites {
		for d := range 3 {
			dev := fmt.Sprintf("dev%d", d)
			class, profile := "boiler", "plc"
			if d == 2 {
				class, profile = "electricity_meter", "meter"
			}
			for gw := range 2 {
				// The second gateway carries the device for a while too:
				// two series of one key, interleaved, one shared second.
				if gw == 1 && d != 0 {
					continue
				}
				for i := range 90 {
					at := t0.Add(time.Duration(i)*time.Second + time.Duration(gw)*500*time.Millisecond)
					if gw == 1 && i == 40 {
						at = t0.Add(40 * time.Second)
					}
					n++
					fmt.Fprintf(&lines, "%s,device=%s,gateway=g%d,profile=%s,site=%s flow=%s,total=%di,running=%t,note=\"%d\",_seq=%di",
						class, dev, gw, profile, tagEsc.Replace(site), fmtFloat(float(n%200+s)), ints[(i+d)%len(ints)], i%2 == 0, i, i)
					if i%3 != 0 {
						// Not every sample has every point.
						fmt.Fprintf(&lines, ",pressure=%s", fmtFloat(float(n)))
					}
					fmt.Fprintf(&lines, " %d\n", at.UnixMilli())
				}
			}
		}
		// The engine's own measurements carry a site but no device, and
		// may have a field named like a point.
		fmt.Fprintf(&lines, "boiler_efficiency,boiler=b1,period=1m,site=%s flow=1.5 %d\n", tagEsc.Replace(site), t0.Add(10*time.Second).UnixMilli())
	}
	in.WriteLines(t, in.Bucket, lines.Bytes())

	all := []string{"flow", "pressure", "total", "running", "note"}
	for _, tc := range []struct {
		name string
		f    store.SampleFilter
		// only, if set, is true of every sample read.
		only func(store.Sample) bool
	}{
		{"one site, its devices", store.SampleFilter{Sites: sites[:1], Devices: []string{"dev0", "dev2"}, Fields: all}, nil},
		{"all sites, no device list", store.SampleFilter{Sites: sites, Fields: all}, nil},
		{"sites with regex and quote characters", store.SampleFilter{Sites: sites[2:5], Fields: []string{"flow", "total"}}, nil},
		{"a counter alone", store.SampleFilter{Sites: sites, Fields: []string{"total"}}, nil},
		{"booleans and strings only", store.SampleFilter{Sites: sites, Fields: []string{"running", "note"}}, nil},
		{"a field nobody has", store.SampleFilter{Sites: sites, Fields: []string{"none"}}, nil},
		{"a site nobody has", store.SampleFilter{Sites: []string{"plant"}, Fields: all}, nil},
		{"one second, start and stop on samples", store.SampleFilter{Sites: sites, Fields: all, Start: t0.Add(40 * time.Second), Stop: t0.Add(41 * time.Second)}, nil},
		{"stop on a sample", store.SampleFilter{Sites: sites, Fields: all, Start: t0.Add(5 * time.Second), Stop: t0.Add(62 * time.Second)}, nil},
		{"one millisecond", store.SampleFilter{Sites: sites, Fields: all, Start: t0.Add(40 * time.Second), Stop: t0.Add(40*time.Second + time.Millisecond)}, nil},
		// The engine's measurement (its flow has no device) left out.
		{"the raw measurements named", store.SampleFilter{Sites: sites, Fields: all, Measurements: []string{"boiler", "electricity_meter"}},
			func(s store.Sample) bool { return s.Device != "" }},
		{"one measurement named", store.SampleFilter{Sites: sites, Fields: all, Measurements: []string{"electricity_meter"}},
			func(s store.Sample) bool { return s.Device == "dev2" }},
		{"a measurement nobody has", store.SampleFilter{Sites: sites, Fields: all, Measurements: []string{"boiler.*"}},
			func(store.Sample) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			if f.Start.IsZero() {
				f.Start, f.Stop = t0.Add(-time.Minute), t0.Add(time.Hour)
			}
			read := func(path func(*store.Store, context.Context, store.SampleFilter, func(store.Sample)) error) map[string][]store.Sample {
				got := map[string][]store.Sample{}
				if err := path(st, ctx, f, func(s store.Sample) {
					if !s.Time.Before(f.Stop) {
						return
					}
					if tc.only != nil && !tc.only(s) {
						t.Errorf("read %+v", s)
					}
					k := s.Site + "|" + s.Device + "|" + s.Field
					got[k] = append(got[k], s)
				}); err != nil {
					t.Fatal(err)
				}
				return got
			}
			ql, flux := read(store.SamplesQL), read(store.SamplesFlux)
			if len(ql) != len(flux) {
				t.Errorf("InfluxQL read %d series (%v), Flux %d (%v)", len(ql), slices.Sorted(maps.Keys(ql)), len(flux), slices.Sorted(maps.Keys(flux)))
			}
			total := 0
			for k, fs := range flux {
				qs := ql[k]
				total += len(fs)
				if len(qs) != len(fs) {
					t.Errorf("%s: InfluxQL %d samples, Flux %d", k, len(qs), len(fs))
					continue
				}
				for i := range fs {
					a, b := qs[i], fs[i]
					if a.Time != b.Time || math.Float64bits(a.Value) != math.Float64bits(b.Value) || a != b {
						t.Errorf("%s #%d: InfluxQL %v %v (%016x), Flux %v %v (%016x)", k, i, a.Time, a.Value, math.Float64bits(a.Value), b.Time, b.Value, math.Float64bits(b.Value))
						break
					}
				}
			}
			t.Logf("%d series, %d samples", len(flux), total)
		})
	}
}

// fmtFloat writes f as the collector's ingest does (exactly).
func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
