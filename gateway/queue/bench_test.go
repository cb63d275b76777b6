package queue

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// refSite is the sizing reference: a 20-device site polled every second,
// 10 boilers (szl-chain-grate-plc, 12 values: scaled 16-bit registers and
// two float32 totals) and 10 electricity meters (chint-dtsu666, 9 float32
// values scaled by a decimal, which print with up to 17 digits). Values
// follow the codec: raw/10ⁿ for decimal scales, float32 widened to float64.
type refSite struct {
	rng  *rand.Rand
	ts   int64
	seq  uint64
	boot string
}

func newRefSite() *refSite {
	return &refSite{rng: rand.New(rand.NewPCG(1, 2)), ts: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), boot: "9f3c2a1b7d4e6f80"}
}

func (r *refSite) scaled(center, spread, div float64) float64 {
	return math.Round((center+spread*r.rng.NormFloat64())*div) / div
}

func (r *refSite) f32(center, spread, div float64) float64 {
	return float64(float32((center+spread*r.rng.NormFloat64())*div)) / div
}

// second returns one second of the site: 20 messages, one per device.
func (r *refSite) second() [][]byte {
	out := make([][]byte, 0, 20)
	good := telemetry.Number
	for i := range 20 {
		s := telemetry.Sample{TS: r.ts + int64(i*3) + int64(r.rng.IntN(40)), Values: map[string]telemetry.Value{}}
		if i < 10 {
			s.Device, s.Profile, s.Class = fmt.Sprintf("boiler%d", i+1), "szl-chain-grate-plc", "boiler"
			v := s.Values
			v["steam_flow"] = good(r.scaled(7, 0.3, 100))
			v["steam_pressure"] = good(r.scaled(0.98, 0.01, 1000))
			v["steam_temp"] = good(r.scaled(183, 0.5, 10))
			v["feedwater_temp"] = good(r.scaled(20, 0.2, 10))
			v["coal_feed"] = good(r.scaled(1.19, 0.05, 1000))
			v["exhaust_temp"] = good(r.scaled(160, 1, 10))
			v["o2"] = good(r.scaled(8, 0.3, 100))
			v["co"] = good(math.Round(120 + 10*r.rng.NormFloat64()))
			v["load"] = good(r.scaled(70, 2, 10))
			v["steam_total"] = good(float64(float32(12345.6 + float64(r.ts%100000)/3600*7)))
			v["coal_total"] = good(float64(float32(2345.6 + float64(r.ts%100000)/3600*1.2)))
			v["burner_running"] = telemetry.Boolean(true)
		} else {
			s.Device, s.Profile, s.Class = fmt.Sprintf("meter%d", i-9), "chint-dtsu666", "electricity_meter"
			v := s.Values
			for _, p := range []string{"ua", "ub", "uc"} {
				v[p] = good(r.f32(220, 1, 10))
			}
			for _, p := range []string{"ia", "ib", "ic"} {
				v[p] = good(r.f32(35, 2, 1000))
			}
			v["p_total"] = good(r.f32(23, 1, 10000))
			v["freq"] = good(r.f32(50, 0.02, 100))
			v["ep_import"] = good(float64(float32(812345.5 + float64(r.ts%100000)/3600*23)))
		}
		r.seq++
		m := telemetry.Message{V: telemetry.Version, Site: "plant-a", Gateway: "gw-01", Seq: r.seq, Boot: r.boot, Samples: []telemetry.Sample{s}}
		b, err := json.Marshal(m)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	r.ts += 1000
	return out
}

// BenchmarkAppend measures queue appends (one message = one sample) under
// the fsync policies and write-behind (nothing acknowledged: every record is
// written, when memory is full or its window passes); samples/s is the figure to compare with a site's rate
// (the reference site needs 20/s).
func BenchmarkAppend(b *testing.B) {
	site := newRefSite()
	var msgs [][]byte
	for range 50 {
		msgs = append(msgs, site.second()...)
	}
	for _, c := range []struct {
		name string
		o    Options
	}{
		{"write-behind=1s", Options{WriteBehind: time.Second}},
		{"fsync=100ms", Options{}},
		{"fsync=100records", Options{SyncEvery: time.Hour}},
		{"fsync=always", Options{SyncAlways: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			o := c.o
			o.Dir, o.Logger = b.TempDir(), testLogger(io.Discard)
			q, err := Open(o)
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := msgs[i%len(msgs)]
				if _, err := q.Append(func(uint64) ([]byte, error) { return p, nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkReplay1h fills a queue with one hour of the reference site
// (20 devices × 3600 s = 72,000 messages) as during a broker outage, lets
// it compact, and measures reading the backlog back in order. It reports
// the bytes each sample takes on disk and what 24 h would take.
func BenchmarkReplay1h(b *testing.B) {
	dir := b.TempDir()
	q, err := Open(Options{Dir: dir, Logger: testLogger(io.Discard)})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	site := newRefSite()
	var jsonBytes int64
	for range 3600 {
		for _, p := range site.second() {
			jsonBytes += int64(len(p))
			if _, err := q.Append(func(uint64) ([]byte, error) { return p, nil }); err != nil {
				b.Fatal(err)
			}
		}
	}
	const n = 72000
	// Wait for the background compaction of every sealed segment.
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		q.mu.Lock()
		raw := 0
		for _, s := range q.segs {
			if s.sealed && !s.compressed {
				raw++
			}
		}
		q.mu.Unlock()
		if raw == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := q.Stats()
	perSample := float64(st.Bytes) / n
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := q.NewReader(0)
		got := 0
		for {
			_, ok, err := r.Next(^uint64(0))
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
			got++
		}
		r.Close()
		if got != n {
			b.Fatalf("replayed %d of %d", got, n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(perSample, "disk-B/sample")
	b.ReportMetric(float64(jsonBytes)/n, "json-B/sample")
	b.ReportMetric(perSample*20*86400/1e6, "MB/24h-ref-site")
}
