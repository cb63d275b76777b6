// Package e2e runs the whole pipeline — simulator, gateway, MQTT broker,
// collector, InfluxDB — as real processes on loopback.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/simulator/sim"
)

const (
	site      = "plant-e2e"
	gatewayID = "gw-e2e"
)

// pipeline is one running chain of real processes.
type pipeline struct {
	dir       string
	bins      map[string]string
	influx    *servicetest.Influx
	sim       *servicetest.Process
	gateway   *servicetest.Process
	collector *servicetest.Process
	record    string
	store     *store.Store
}

// startPipeline starts everything; brokerURL empty means the collector's
// embedded broker.
func startPipeline(t *testing.T, brokerURL string) *pipeline {
	t.Helper()
	p := &pipeline{dir: t.TempDir()}
	p.bins = servicetest.Build(t, "simulator/cmd/simulator", "gateway/cmd/gateway", "collector/cmd/collector")
	p.influx = servicetest.StartInflux(t)

	simAddr := freeAddr(t)
	p.record = filepath.Join(p.dir, "served.jsonl")
	p.sim = startSim(t, p.bins["simulator"], filepath.Join(p.dir, "scenario.yaml"), scenarioConfig{listen: simAddr, seed: 7, update: 100 * time.Millisecond}, "-record", p.record)

	col := collectorConfig{broker: brokerURL, clientID: "bw-collector-e2e", influx: p.influx}
	if brokerURL == "" {
		col.embedded = freeAddr(t)
		brokerURL = "tcp://" + col.embedded
	}
	p.collector = servicetest.StartProcess(t, p.bins["collector"], "-config", write(t, filepath.Join(p.dir, "collector.yaml"), col.yaml()), "-report", "1s")
	p.collector.WaitLog(t, "mqtt connected", 20*time.Second)

	gw := gatewayConfig{site: site, id: gatewayID, broker: brokerURL, queueDir: filepath.Join(p.dir, "queue"), devices: gwDevices(simAddr, time.Second)}
	p.gateway = servicetest.StartProcess(t, p.bins["gateway"], "-config", write(t, filepath.Join(p.dir, "gateway.yaml"), gw.yaml()), "-log-level", "debug")
	p.store = store.Open(store.Config{URL: p.influx.URL, Bucket: p.influx.Bucket})
	t.Cleanup(p.store.Close)
	return p
}

// sample is one wide row read back from InfluxDB.
type sample struct {
	measurement, device string
	ts                  time.Time
	fields              map[string]any
}

func (p *pipeline) samples(t *testing.T) []sample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	flux := fmt.Sprintf(`from(bucket: %s) |> range(start: 0) |> filter(fn: (r) => %s)`, store.FluxString(p.influx.Bucket), store.Eq("gateway", gatewayID))
	res, err := p.store.Query(ctx, flux)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	byKey := map[string]*sample{}
	for res.Next() {
		r := res.Record()
		dev, _ := r.ValueByKey("device").(string)
		if site, _ := r.ValueByKey("site").(string); site != "plant-e2e" {
			t.Errorf("row with site tag %q", site)
		}
		key := dev + "@" + r.Time().String()
		s := byKey[key]
		if s == nil {
			s = &sample{measurement: r.Measurement(), device: dev, ts: r.Time(), fields: map[string]any{}}
			byKey[key] = s
		}
		s.fields[r.Field()] = r.Value()
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	out := make([]sample, 0, len(byKey))
	for _, s := range byKey {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ts.Before(out[j].ts) })
	return out
}

func countBy(ss []sample) map[string]int {
	n := map[string]int{}
	for _, s := range ss {
		n[s.device]++
	}
	return n
}

// TestPipeline runs simulator → gateway → broker → collector → InfluxDB for
// at least 10 poll cycles and checks every value of every sample against
// what the simulator served, first through Mosquitto, then through the
// collector's embedded broker.
func TestPipeline(t *testing.T) {
	t.Parallel()
	for _, broker := range []string{"mosquitto", "embedded"} {
		t.Run(broker, func(t *testing.T) {
			t.Parallel()
			url := ""
			if broker == "mosquitto" {
				url = servicetest.StartMosquitto(t, "").URL
			}
			p := startPipeline(t, url)
			deadline := time.Now().Add(60 * time.Second)
			for {
				n := countBy(p.samples(t))
				if n["boiler1"] >= 12 && n["meter1"] >= 12 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 60 s InfluxDB holds %v samples, want ≥ 12 per device", n)
				}
				time.Sleep(time.Second)
			}
			// Stop the source first, let the collector drain, then stop
			// the simulator so its record is complete on disk.
			p.gateway.Stop(10 * time.Second)
			published := strings.Count(p.gateway.LogText(), "msg=published")
			deadline = time.Now().Add(20 * time.Second)
			var got []sample
			for {
				got = p.samples(t)
				if len(got) >= published || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			p.sim.Stop(10 * time.Second)
			if len(got) != published {
				t.Errorf("gateway published %d samples, InfluxDB holds %d", published, len(got))
			}
			compareWithServed(t, p.record, got)
		})
	}
}

// compareWithServed checks each point of each sample against the last read
// the simulator answered for that point before the sample's timestamp.
func compareWithServed(t *testing.T, recordPath string, got []sample) {
	t.Helper()
	f, err := os.Open(recordPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	served, err := sim.ReadRecords(f)
	if err != nil {
		t.Fatal(err)
	}
	byDevice := map[string][]sim.Served{}
	for _, s := range served {
		byDevice[s.Device] = append(byDevice[s.Device], s)
	}
	for _, ss := range byDevice {
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].T < ss[j].T })
	}
	lib, err := profile.LoadLibrary()
	if err != nil {
		t.Fatal(err)
	}
	profiles := map[string]*profile.Profile{"boiler1": lib["szl-chain-grate-plc"], "meter1": lib["chint-dtsu666"]}
	checked := 0
	for _, s := range got {
		prof := profiles[s.device]
		if prof == nil {
			t.Errorf("unexpected device %q", s.device)
			continue
		}
		if s.measurement != prof.Class {
			t.Errorf("%s: measurement %q, want %q", s.device, s.measurement, prof.Class)
		}
		if _, ok := s.fields["_bad"]; ok {
			t.Errorf("%s at %s: bad values %v", s.device, s.ts, s.fields["_bad"])
		}
		for _, pt := range prof.Points {
			v, ok := s.fields[pt.Name]
			if !ok {
				t.Errorf("%s at %s: point %s missing", s.device, s.ts, pt.Name)
				continue
			}
			want, at, found := lastServed(byDevice[s.device], pt.Name, s.ts.UnixMilli())
			if !found {
				t.Errorf("%s.%s at %s: the simulator never served it before then", s.device, pt.Name, s.ts)
				continue
			}
			if s.ts.UnixMilli()-at > 2000 {
				t.Errorf("%s.%s at %s: last served %d ms earlier", s.device, pt.Name, s.ts, s.ts.UnixMilli()-at)
			}
			if !sameValue(v, want) {
				t.Errorf("%s.%s at %s: InfluxDB has %v, simulator served %v", s.device, pt.Name, s.ts, v, want)
			}
			checked++
		}
	}
	t.Logf("compared %d values of %d samples with %d served reads", checked, len(got), len(served))
	if checked == 0 {
		t.Fatal("nothing compared")
	}
}

func lastServed(ss []sim.Served, point string, ts int64) (any, int64, bool) {
	i := sort.Search(len(ss), func(i int) bool { return ss[i].T > ts })
	for i--; i >= 0; i-- {
		if v, ok := ss[i].Values[point]; ok {
			return v, ss[i].T, true
		}
	}
	return nil, 0, false
}

func sameValue(got, want any) bool {
	switch w := want.(type) {
	case json.Number:
		f, err := w.Float64()
		g, ok := got.(float64)
		return err == nil && ok && f == g
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	}
	return fmt.Sprint(got) == fmt.Sprint(want)
}
