package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/simulator/sim"
)

// chaosSite is the site of the chaos test's gateways.
const chaosSite = "plant-chaos"

// chaosGateway is one gateway with its own simulator (so that the
// simulator's record of what it served is this gateway's alone).
type chaosGateway struct {
	id     string
	sim    *servicetest.Process
	proc   *servicetest.Process
	record string
	// The gateway was dead between these instants (kill -9 and restart).
	downFrom, downTo time.Time
	// stopped is when the final SIGTERM was sent: a poll then in progress
	// is abandoned, not queued.
	stopped time.Time
}

// queued is one line "queued" of a gateway's log.
type queued struct {
	seq    uint64
	device string
	ts     int64
}

var queuedLine = regexp.MustCompile(`msg=queued .*\bseq=(\d+) device=(\S+) ts=(\d+)`)

func (g *chaosGateway) queued(t *testing.T) []queued {
	t.Helper()
	var out []queued
	for _, line := range strings.Split(g.proc.LogText(), "\n") {
		m := queuedLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		seq, _ := strconv.ParseUint(m[1], 10, 64)
		ts, _ := strconv.ParseInt(m[3], 10, 64)
		out = append(out, queued{seq, m[2], ts})
	}
	return out
}

// chaosOutage is how long the broker and InfluxDB are down: 60 s, or
// BW_CHAOS_OUTAGE (e.g. 25s) to keep make test short.
func chaosOutage(t *testing.T) time.Duration {
	if v := os.Getenv("BW_CHAOS_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			t.Fatalf("BW_CHAOS_OUTAGE=%q: want a duration of at least 1s", v)
		}
		return d
	}
	return 60 * time.Second
}

// TestChaos runs two gateways, Mosquitto with the shipped delivery
// settings, collectors sharing the stream, and InfluxDB, and breaks them in
// turn: the broker and InfluxDB are stopped for an outage each, a collector
// and a gateway (mid-poll) are killed with SIGKILL. Then every sample a
// gateway logged as queued must be in InfluxDB once, with the values the
// simulator served, and nothing else may be there. BW_CHAOS_COLLECTORS=1
// runs a single collector without a shared subscription.
func TestChaos(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs for minutes")
	}
	began := time.Now()
	outage := chaosOutage(t)
	nCollectors := 2
	if os.Getenv("BW_CHAOS_COLLECTORS") == "1" {
		nCollectors = 1
	}
	dir := t.TempDir()
	bins := servicetest.Build(t, "simulator/cmd/simulator", "gateway/cmd/gateway", "collector/cmd/collector")
	influx := servicetest.StartInflux(t)
	delivery, err := os.ReadFile(filepath.Join(servicetest.RepoRoot(t), "deploy", "mosquitto", "conf.d", "boilerwatch.conf"))
	if err != nil {
		t.Fatal(err)
	}
	mq := servicetest.StartMosquitto(t, string(delivery)+"persistence_location {{dir}}/\n")
	st := store.Open(store.Config{URL: influx.URL, Bucket: influx.Bucket})
	t.Cleanup(st.Close)
	step := func(format string, a ...any) {
		t.Logf("%6.1fs  %s", time.Since(began).Seconds(), fmt.Sprintf(format, a...))
	}

	// Collectors first: their persistent sessions must exist before the
	// first telemetry, or the broker has nobody to keep it for.
	var collectors []*servicetest.Process
	for i := 1; i <= nCollectors; i++ {
		share := ""
		if nCollectors > 1 {
			share = "share_group: collectors"
		}
		cfg := write(t, filepath.Join(dir, fmt.Sprintf("collector%d.yaml", i)), collectorConfig{broker: mq.URL, clientID: fmt.Sprintf("bw-collector-%d", i),
			mqtt: share, influx: influx, extra: "gaps: {fill_within: 20s}\n"}.yaml())
		c := servicetest.StartProcess(t, bins["collector"], "-config", cfg, "-report", "5s")
		c.WaitLog(t, "subscribed", 30*time.Second)
		collectors = append(collectors, c)
	}

	var gws []*chaosGateway
	for i, id := range []string{"gw-a", "gw-b"} {
		g := &chaosGateway{id: id, record: filepath.Join(dir, id+"-served.jsonl")}
		simAddr := freeAddr(t)
		g.sim = startSim(t, bins["simulator"], filepath.Join(dir, id+"-scenario.yaml"), scenarioConfig{listen: simAddr, seed: 11 + i, update: 100 * time.Millisecond}, "-record", g.record)
		cfg := write(t, filepath.Join(dir, id+".yaml"), gatewayConfig{site: chaosSite, id: id, broker: mq.URL, mqtt: "keepalive: 5s",
			queueDir: filepath.Join(dir, id+"-queue"), queue: "replay_rate: 200", devices: gwDevices(simAddr, time.Second)}.yaml())
		g.proc = servicetest.StartProcess(t, bins["gateway"], "-config", cfg, "-log-level", "debug", "-drain", "30s")
		gws = append(gws, g)
	}
	waitFlowing := func(what string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		base := map[string]int{}
		for _, g := range gws {
			base[g.id] = len(chaosSamples(t, st, influx.Bucket, g.id))
		}
		for {
			ok := true
			for _, g := range gws {
				if len(chaosSamples(t, st, influx.Bucket, g.id)) < base[g.id]+6 {
					ok = false
				}
			}
			if ok {
				step("data flowing again %s", what)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no new samples in InfluxDB for 90 s %s", what)
			}
			time.Sleep(time.Second)
		}
	}
	waitFlowing("at start")
	time.Sleep(5 * time.Second)

	// 1. The broker goes away; gateways queue on disk.
	step("stopping Mosquitto for %s", outage)
	mq.Stop(10 * time.Second)
	time.Sleep(outage)
	if err := mq.Start(); err != nil {
		t.Fatal(err)
	}
	servicetest.WaitTCP(t, mq.Addr, 10*time.Second)
	step("Mosquitto started again")
	waitFlowing("after the broker outage")
	time.Sleep(5 * time.Second)

	// 2. InfluxDB goes away; collectors hold back, the broker queues.
	step("stopping InfluxDB for %s", outage)
	influx.Stop(10 * time.Second)
	time.Sleep(outage)
	if err := influx.Start(); err != nil {
		t.Fatal(err)
	}
	influx.WaitReady(t, 60*time.Second)
	step("InfluxDB started again")
	waitFlowing("after the InfluxDB outage")

	// 3. A collector dies with messages in flight.
	step("kill -9 collector 1")
	collectors[0].Kill()
	time.Sleep(5 * time.Second)
	if err := collectors[0].Start(); err != nil {
		t.Fatal(err)
	}
	step("collector 1 started again")
	waitFlowing("after the collector crash")

	// 4. A gateway dies in the middle of a poll: a few milliseconds after
	// the second, while its Modbus requests are on the wire.
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + 3*time.Millisecond).Sub(now))
	ga := gws[0]
	ga.downFrom = time.Now()
	ga.proc.Kill()
	step("kill -9 %s mid-poll", ga.id)
	time.Sleep(5 * time.Second)
	ga.downTo = time.Now()
	if err := ga.proc.Start(); err != nil {
		t.Fatal(err)
	}
	step("%s started again", ga.id)
	waitFlowing("after the gateway crash")
	time.Sleep(5 * time.Second)

	// Stop the sources: each gateway drains its queue before exiting.
	for _, g := range gws {
		g.stopped = time.Now()
		g.proc.Stop(40 * time.Second)
		if !strings.Contains(g.proc.LogText(), "unsent=0") {
			t.Errorf("%s stopped with records unsent", g.id)
		}
		g.sim.Stop(10 * time.Second)
	}
	step("gateways and simulators stopped")

	// Wait for the collectors to write what the broker still holds.
	want := map[string][]queued{}
	for _, g := range gws {
		want[g.id] = g.queued(t)
	}
	deadline := time.Now().Add(60 * time.Second)
	got := map[string][]sample{}
	for {
		done := true
		for _, g := range gws {
			got[g.id] = chaosSamples(t, st, influx.Bucket, g.id)
			if len(got[g.id]) < len(want[g.id]) {
				done = false
			}
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	// Let any gap check run once more with everything written.
	time.Sleep(25 * time.Second)
	step("verifying")

	for _, g := range gws {
		t.Run(g.id, func(t *testing.T) { verifyChaos(t, g, want[g.id], got[g.id]) })
	}
	events := chaosEvents(t, st, influx.Bucket)
	if len(events) > 0 {
		t.Errorf("InfluxDB holds %d seq_gap events, want none: %v", len(events), events)
	}
	for i, c := range collectors {
		logs := c.LogText()
		t.Logf("collector %d: %s; %d sequence-gap lines; last progress: %s", i+1,
			lastMatch(logs, `redelivered_total=\d+`), strings.Count(logs, "sequence gap"), lastMatch(logs, `samples_total=\d+`))
	}
	for _, g := range gws {
		logs := g.proc.LogText()
		t.Logf("%s: %d backlog replays: %s", g.id, strings.Count(logs, "backlog replayed"),
			strings.Join(allMatches(logs, `msg="backlog replayed".*?rate_per_s=\d+`), "; "))
	}
	step("done: outages of %s, %d collector(s), wall time %s", outage, nCollectors, time.Since(began).Round(time.Second))
}

// verifyChaos compares one gateway's queued log with InfluxDB and with what
// its simulator served.
func verifyChaos(t *testing.T, g *chaosGateway, want []queued, got []sample) {
	type key struct {
		device string
		ts     int64
	}
	influx := map[key]sample{}
	for _, s := range got {
		influx[key{s.device, s.ts.UnixMilli()}] = s
	}
	wantKeys := map[key]uint64{}
	missing, wrongSeq := 0, 0
	for _, q := range want {
		k := key{q.device, q.ts}
		if _, dup := wantKeys[k]; dup {
			t.Errorf("%s %d queued twice", q.device, q.ts)
		}
		wantKeys[k] = q.seq
		s, ok := influx[k]
		if !ok {
			if missing < 10 {
				t.Errorf("queued seq %d (%s at %d) is not in InfluxDB", q.seq, q.device, q.ts)
			}
			missing++
			continue
		}
		if seq, _ := s.fields["_seq"].(int64); uint64(seq) != q.seq {
			wrongSeq++
			t.Errorf("%s at %d: _seq %v, queued as %d", q.device, q.ts, s.fields["_seq"], q.seq)
		}
	}
	// A sample queued an instant before the kill, whose log line was not
	// written yet, is delivered without a line: allowed at the kill only.
	unlogged := 0
	for k := range influx {
		if _, ok := wantKeys[k]; ok {
			continue
		}
		at := time.UnixMilli(k.ts)
		if !g.downFrom.IsZero() && at.After(g.downFrom.Add(-2*time.Second)) && at.Before(g.downFrom.Add(time.Second)) {
			unlogged++
			continue
		}
		t.Errorf("InfluxDB holds %s at %s, which the gateway never logged as queued", k.device, at)
	}
	// Every read the simulator served became a queued sample, except the
	// polls cut short by the kill or the final stop. A pause in polling
	// (a loaded machine) is no loss: nothing was read then.
	unqueued, holes := 0, 0
	f, err := os.Open(g.record)
	if err != nil {
		t.Fatal(err)
	}
	served, err := sim.ReadRecords(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	byDev := map[string][]int64{}
	for _, q := range want {
		byDev[q.device] = append(byDev[q.device], q.ts)
	}
	for _, ts := range byDev {
		slices.Sort(ts)
	}
	near := func(at, from time.Time, before, after time.Duration) bool {
		return !from.IsZero() && at.After(from.Add(-before)) && at.Before(from.Add(after))
	}
	for _, r := range served {
		ts := byDev[r.Device]
		i := sort.Search(len(ts), func(i int) bool { return ts[i] >= r.T-50 })
		// The sample is stamped when the gateway reads the response: on a
		// starved machine that can be seconds after the simulator sent it.
		if i < len(ts) && ts[i] <= r.T+10000 {
			continue
		}
		at := time.UnixMilli(r.T)
		if near(at, g.downFrom, 2*time.Second, g.downTo.Sub(g.downFrom)+time.Second) || near(at, g.stopped, 2*time.Second, time.Hour) {
			continue
		}
		if unqueued < 10 {
			t.Errorf("%s read at %s (served by the simulator) was never queued", r.Device, at.Format("15:04:05.000"))
		}
		unqueued++
	}
	for dev, ts := range byDev {
		for i := 1; i < len(ts); i++ {
			if ts[i]-ts[i-1] > 2500 && !(g.downFrom.After(time.UnixMilli(ts[i-1])) && g.downTo.Before(time.UnixMilli(ts[i]))) {
				holes++
				t.Logf("%s: no poll between %s and %s (the gateway was alive; nothing was read)", dev,
					time.UnixMilli(ts[i-1]).Format(time.TimeOnly), time.UnixMilli(ts[i]).Format(time.TimeOnly))
			}
		}
	}
	compareWithServed(t, g.record, got)
	t.Logf("%s: queued %d, in InfluxDB %d (unlogged at the kill %d), missing %d, wrong seq %d; served reads never queued %d; polling pauses %d",
		g.id, len(want), len(got), unlogged, missing, wrongSeq, unqueued, holes)
	if len(want) < 60 {
		t.Errorf("only %d samples queued: the test did not run long enough to mean anything", len(want))
	}
}

// chaosSamples reads a gateway's samples back from InfluxDB.
func chaosSamples(t *testing.T, st *store.Store, bucket, gateway string) []sample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	flux := fmt.Sprintf(`from(bucket: %s) |> range(start: 0) |> filter(fn: (r) => %s and r._measurement != "events")`, store.FluxString(bucket), store.Eq("gateway", gateway))
	res, err := st.Query(ctx, flux)
	if err != nil {
		// InfluxDB may be the thing that is down: no samples then.
		return nil
	}
	defer res.Close()
	byKey := map[string]*sample{}
	for res.Next() {
		r := res.Record()
		dev, _ := r.ValueByKey("device").(string)
		key := dev + "@" + r.Time().String()
		s := byKey[key]
		if s == nil {
			s = &sample{measurement: r.Measurement(), device: dev, ts: r.Time(), fields: map[string]any{}}
			byKey[key] = s
		}
		s.fields[r.Field()] = r.Value()
	}
	if res.Err() != nil {
		return nil
	}
	out := make([]sample, 0, len(byKey))
	for _, s := range byKey {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ts.Before(out[j].ts) })
	return out
}

// chaosEvents lists the seq_gap events.
func chaosEvents(t *testing.T, st *store.Store, bucket string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := st.Query(ctx, fmt.Sprintf(`from(bucket: %s) |> range(start: 0) |> filter(fn: (r) => %s)`, store.FluxString(bucket), store.Eq("_measurement", "events")))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	var out []string
	for res.Next() {
		r := res.Record()
		out = append(out, fmt.Sprintf("%v %s=%v", r.ValueByKey("gateway"), r.Field(), r.Value()))
	}
	return out
}

func lastMatch(s, expr string) string {
	m := regexp.MustCompile(expr).FindAllString(s, -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1]
}

func allMatches(s, expr string) []string {
	return regexp.MustCompile(expr).FindAllString(s, -1)
}
