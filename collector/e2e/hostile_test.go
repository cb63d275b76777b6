package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	influxwrite "github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/boilerwatch/boilerwatch/collector/console/password"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// hostileBroker is where TestHostileGateway runs: the collector's mqtt
// section, the registry lines, and how a gateway identity logs in.
type hostileBroker struct {
	collector collectorConfig // its mqtt entries; runHostile adds the rest
	gateways  string          // the gateways: section
	login     func(t *testing.T, identity, clientID string) (mqtt.Client, error)
	// unregistered is an identity the broker lets in that the collector's
	// registry does not list ("" where the broker's logins are the registry).
	unregistered string
	// inProcess: the broker dies with the collector, and with it what it
	// had acknowledged but the collector had not written (docs/delivery.md):
	// the honest gateways pause around the restart and log in again after.
	inProcess bool
}

// TestHostileGateway: a gateway with a valid identity tries, on its own
// and others' topics, everything issue "trusted ingest" lists — values of
// the wrong type, a field whose type InfluxDB fixed otherwise, the
// engine's measurements, next week's stamps, tags with a trailing
// backslash, NUL or U+202E, seq 2^64−1, a point named time, another
// site's data, an oversize publish — while two honest gateways publish
// five times a second. Their samples keep arriving within seconds, each
// value exact; every refusal is counted by reason and gateway and is in the
// dead-letter store; after a kill -9 of the collector nothing comes back.
// Once on real Mosquitto with the shipped ACL and mTLS, once on the
// embedded broker with logins.
func TestHostileGateway(t *testing.T) {
	t.Parallel()
	influx := servicetest.StartInflux(t)
	bins := servicetest.Build(t, "collector/cmd/collector")

	t.Run("mosquitto-mtls", func(t *testing.T) {
		ca := servicetest.NewCA(t)
		mq := startSecureBroker(t, ca)
		col := ca.Valid(t, "collector")
		runHostile(t, bins["collector"], influx, "hostile_mosquitto", hostileBroker{
			collector: collectorConfig{broker: strings.Replace(mq.URL, "tcp://", "ssl://", 1), clientID: "bw-hostile",
				mqtt: fmt.Sprintf("ca_file: %q, cert_file: %q, key_file: %q", ca.CertFile, col.CertFile, col.KeyFile)},
			gateways: "gateways:\n  - {site: plant-a, gateway: gw-01}\n  - {site: plant-b, gateway: gw-02}\n  - {site: plant-b, gateway: gw-bad}\n",
			login: func(t *testing.T, identity, clientID string) (mqtt.Client, error) {
				return tlsClient(t, mq.URL, clientID, ca, ca.Valid(t, identity))
			},
			unregistered: "plant-z/gw-z",
		})
	})

	t.Run("embedded-auth", func(t *testing.T) {
		hash := func(pw string) string {
			h, err := password.Hash(pw, password.MinIterations)
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
		addr := freeAddr(t)
		var reg strings.Builder
		reg.WriteString("gateways:\n")
		for _, id := range []string{"plant-a/gw-01", "plant-b/gw-02", "plant-b/gw-bad"} {
			site, gw, _ := strings.Cut(id, "/")
			fmt.Fprintf(&reg, "  - {site: %s, gateway: %s, password_hash: %q}\n", site, gw, hash("pw-"+gw))
		}
		runHostile(t, bins["collector"], influx, "hostile_embedded", hostileBroker{
			collector: collectorConfig{embedded: addr, clientID: "bw-hostile"},
			gateways:  reg.String(),
			login: func(t *testing.T, identity, clientID string) (mqtt.Client, error) {
				_, gw, _ := strings.Cut(identity, "/")
				return connectEmbedded(t, addr, clientID, brokerLogin{user: identity, pass: "pw-" + gw})
			},
			inProcess: true,
		})
	})
}

func runHostile(t *testing.T, collectorBin string, influx *servicetest.Influx, db string, b hostileBroker) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	httpAddr := freeAddr(t)
	metricsAddr := freeAddr(t)
	bucket := db + "/autogen"
	cc := b.collector
	cc.influx, cc.bucket, cc.flush = influx, bucket, 50*time.Millisecond
	cc.extra = b.gateways + fmt.Sprintf("http: {listen: %q}\nmetrics: {listen: %q}\n", httpAddr, metricsAddr)
	cfg := write(t, filepath.Join(dir, "collector.yaml"), cc.yaml())
	st := store.Open(store.Config{URL: influx.URL, Bucket: bucket})
	defer st.Close()
	if err := st.EnsureDatabase(ctx); err != nil {
		t.Fatal(err)
	}
	// What InfluxDB already holds from an older version: legacy_note, which
	// no profile declares, as a string.
	if err := st.Write(ctx, influxwrite.NewPointWithMeasurement("boiler").AddTag("site", "plant-b").AddTag("gateway", "gw-02").
		AddTag("device", "boiler1").AddTag("profile", "szl-chain-grate-plc").AddField("legacy_note", "v1").
		SetTime(time.Now().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	col := servicetest.StartProcess(t, collectorBin, "-config", cfg, "-report", "1s")
	col.WaitLog(t, "subscribed", 30*time.Second)

	// Two honest gateways, five messages a second each, from now to the end.
	type honestGW struct {
		site, gw string
		mu       sync.Mutex
		sent     map[int64]float64 // by sample time (ms): steam_flow
	}
	honest := []*honestGW{{site: "plant-a", gw: "gw-01", sent: map[int64]float64{}}, {site: "plant-b", gw: "gw-02", sent: map[int64]float64{}}}
	pubCtx, stopPub := context.WithCancel(ctx)
	var pubs sync.WaitGroup
	var paused atomic.Bool
	for _, h := range honest {
		c, err := b.login(t, h.site+"/"+h.gw, "honest-"+h.gw)
		if err != nil {
			t.Fatalf("%s/%s: %v", h.site, h.gw, err)
		}
		pubs.Go(func() {
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for seq := uint64(1); ; seq++ {
				select {
				case <-pubCtx.Done():
					return
				case <-tick.C:
				}
				if paused.Load() {
					continue
				}
				if !c.IsConnectionOpen() {
					// As a gateway does: log in again once the broker is back.
					if nc, err := b.login(t, h.site+"/"+h.gw, "honest-"+h.gw); err == nil {
						c = nc
					}
				}
				ts := time.Now().UnixMilli()
				v := float64(seq)/8 + 0.125
				m := telemetry.Message{V: 1, Site: h.site, Gateway: h.gw, Seq: seq, Boot: "honest", Samples: []telemetry.Sample{{
					Device: "boiler1", Profile: "szl-chain-grate-plc", Class: "boiler", TS: ts,
					Values: map[string]telemetry.Value{"steam_flow": telemetry.Number(v)}}}}
				payload, _ := json.Marshal(m)
				if tok := c.Publish(telemetry.SamplesTopic(h.site, h.gw), 1, false, payload); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
					h.mu.Lock()
					h.sent[ts] = v
					h.mu.Unlock()
				}
			}
		})
	}
	// stored reads an honest gateway's steam_flow by sample time.
	stored := func(h *honestGW) map[int64]float64 {
		flux := fmt.Sprintf(`from(bucket: %s) |> range(start: -1h, stop: 1h) |> filter(fn: (r) => %s)`, store.FluxString(bucket),
			store.And(store.Eq("_measurement", "boiler"), store.Eq("site", h.site), store.Eq("gateway", h.gw), store.Eq("_field", "steam_flow")))
		res, err := st.Query(ctx, flux)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		out := map[int64]float64{}
		for res.Next() {
			out[res.Record().Time().UnixMilli()] = res.Record().Value().(float64)
		}
		return out
	}
	// arriving waits until each honest gateway's latest sample (taken now)
	// is stored: the lag an operator would see.
	arriving := func(what string) {
		t.Helper()
		start := time.Now()
		for _, h := range honest {
			h.mu.Lock()
			var latest int64
			for ts := range h.sent {
				latest = max(latest, ts)
			}
			h.mu.Unlock()
			eventually(t, 10*time.Second, func() string {
				if _, ok := stored(h)[latest]; !ok {
					return fmt.Sprintf("%s: %s/%s's sample of %s is not stored", what, h.site, h.gw, time.UnixMilli(latest).Format("15:04:05.000"))
				}
				return ""
			})
		}
		t.Logf("%s: honest samples stored within %s", what, time.Since(start).Round(10*time.Millisecond))
	}
	time.Sleep(time.Second)
	arriving("before the attack")

	// The hostile gateway: registered, with a valid login.
	bad, err := b.login(t, "plant-b/gw-bad", "hostile-gw-bad")
	if err != nil {
		t.Fatal(err)
	}
	relogin := func() {
		if !bad.IsConnectionOpen() {
			if bad, err = b.login(t, "plant-b/gw-bad", "hostile-gw-bad"); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish := func(topic string, payload []byte, retained bool) {
		relogin()
		bad.Publish(topic, 1, retained, payload).WaitTimeout(10 * time.Second)
	}
	seq := uint64(0)
	msg := func(site, gw string, mutate func(*telemetry.Sample)) []byte {
		seq++
		s := telemetry.Sample{Device: "boiler9", Profile: "szl-chain-grate-plc", Class: "boiler", TS: time.Now().UnixMilli(),
			Values: map[string]telemetry.Value{"steam_temp": telemetry.Number(180)}}
		mutate(&s)
		p, _ := json.Marshal(telemetry.Message{V: 1, Site: site, Gateway: gw, Seq: seq, Boot: "hostile", Samples: []telemetry.Sample{s}})
		return p
	}
	own := telemetry.SamplesTopic("plant-b", "gw-bad")
	want := map[string]int{} // refusals by reason, all of plant-b/gw-bad unless the reason says
	attempt := func(reason string, n int, payload func() []byte) {
		for range n {
			publish(own, payload(), false)
		}
		want[reason] += n
	}
	// 1. Types InfluxDB or the profile fix otherwise.
	attempt("type_mismatch", 30, func() []byte {
		return msg("plant-b", "gw-bad", func(s *telemetry.Sample) { s.Values["steam_flow"] = telemetry.Text("lots") })
	})
	attempt("influxdb_refused", 30, func() []byte {
		return msg("plant-b", "gw-bad", func(s *telemetry.Sample) { s.Values["legacy_note"] = telemetry.Number(2) })
	})
	// 2. The engine's measurements, next week.
	for _, class := range []string{"energy", "events", "boiler_efficiency", "engine_progress"} {
		attempt("unknown_class", 3, func() []byte { return msg("plant-b", "gw-bad", func(s *telemetry.Sample) { s.Class = class }) })
	}
	attempt("future", 10, func() []byte {
		return msg("plant-b", "gw-bad", func(s *telemetry.Sample) { s.TS = time.Now().Add(7 * 24 * time.Hour).UnixMilli() })
	})
	// 7. Tags and fields InfluxDB would mangle or drop.
	for _, mutate := range []func(*telemetry.Sample){
		func(s *telemetry.Sample) { s.Profile = `szl\` },
		func(s *telemetry.Sample) { s.Device = "boiler\x00" },
		func(s *telemetry.Sample) { s.Device = "boiler\u202e1" },
		func(s *telemetry.Sample) { s.Values["time"] = telemetry.Number(1) },
		func(s *telemetry.Sample) { s.Values["_seq"] = telemetry.Number(1) },
	} {
		attempt("invalid", 1, func() []byte { return msg("plant-b", "gw-bad", mutate) })
	}
	attempt("invalid", 1, func() []byte {
		return []byte(strings.Replace(string(msg("plant-b", "gw-bad", func(*telemetry.Sample) {})), fmt.Sprintf(`"seq":%d`, seq), `"seq":18446744073709551615`, 1))
	})
	// 3. Another site: in the payload on its own topic, and on others' topics
	// (which the broker's ACL drops before the collector sees them).
	attempt("topic_mismatch", 5, func() []byte {
		return msg("plant-a", "gw-01", func(s *telemetry.Sample) { s.Values["steam_flow"] = telemetry.Number(999) })
	})
	for _, topic := range []string{telemetry.SamplesTopic("plant-a", "gw-01"), telemetry.SamplesTopic("plant-a", "gw-bad"), "boilerwatch/v1/plant-a/gw-01/telemetry/x"} {
		for range 5 {
			publish(topic, msg("plant-a", "gw-01", func(s *telemetry.Sample) { s.Values["steam_flow"] = telemetry.Number(999) }), false)
		}
	}
	// 4. A retained status for an invented site, and an oversize publish.
	publish(telemetry.StatusTopic("invented", "gw-bad"), []byte(`{"v":1,"gateway":"gw-bad","state":"online","boot":"x"}`), true)
	publish(own, make([]byte, telemetry.MaxPayload+64<<10), false)
	// A gateway whose certificate is valid but which the registry lacks.
	if b.unregistered != "" {
		site, gw, _ := strings.Cut(b.unregistered, "/")
		z, err := b.login(t, b.unregistered, "hostile-unregistered")
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			z.Publish(telemetry.SamplesTopic(site, gw), 1, false, msg(site, gw, func(*telemetry.Sample) {})).WaitTimeout(10 * time.Second)
		}
	}
	arriving("right after the attack")

	// Every refusal counted by reason and gateway...
	metrics := "http://" + metricsAddr + "/metrics"
	wantMetric := map[string]float64{}
	for reason, n := range want {
		wantMetric[fmt.Sprintf(`bw_collector_rejected_total{gateway="gw-bad",reason=%q,site="plant-b"}`, reason)] = float64(n)
	}
	if b.unregistered != "" {
		wantMetric[`bw_collector_rejected_total{gateway="gw-z",reason="unknown_gateway",site="plant-z"}`] = 5
	}
	eventually(t, 20*time.Second, func() string {
		got := scrape(t, metrics)
		var diff []string
		for k, v := range wantMetric {
			if got[k] != v {
				diff = append(diff, fmt.Sprintf("%s = %v, want %v", k, got[k], v))
			}
		}
		for k, v := range got {
			if strings.HasPrefix(k, "bw_collector_rejected_total{") && v != 0 && wantMetric[k] == 0 {
				diff = append(diff, fmt.Sprintf("unexpected %s = %v", k, v))
			}
		}
		return strings.Join(diff, "; ")
	})
	if b.inProcess {
		// What the broker's ACL stopped never reached ingest; it counts it.
		if got := scrape(t, metrics); got["bw_collector_broker_denied_total"] < 15 {
			t.Errorf("bw_collector_broker_denied_total = %v after 15 publishes on others' topics", got["bw_collector_broker_denied_total"])
		}
	}
	// ...and in the dead-letter store, as the operator lists it.
	out, err := exec.Command(collectorBin, "-config", cfg, "-dead-letters", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("collector -dead-letters list: %v\n%s", err, out)
	}
	listed := map[string]float64{}
	for _, m := range regexp.MustCompile(`(?m)^(\w+)\s+([\w.-]+)/([\w.-]+)\s+(\d+)$`).FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.Atoi(m[4])
		listed[fmt.Sprintf(`bw_collector_rejected_total{gateway=%q,reason=%q,site=%q}`, m[3], m[1], m[2])] = float64(n)
	}
	for k, v := range wantMetric {
		if listed[k] != v {
			t.Errorf("dead-letter store lists %s: %v, want %v\n%s", k, listed[k], v, out)
		}
	}
	if code, body := status(t, "GET", "http://"+httpAddr+"/readyz", ""); code != 200 {
		t.Errorf("/readyz after the attack: %d %s", code, body)
	}

	// A kill -9 and a restart bring nothing back: everything refused was
	// acknowledged, and the honest samples keep arriving.
	if b.inProcess {
		paused.Store(true)
		time.Sleep(300 * time.Millisecond)
		arriving("before the restart")
	}
	subscribed := strings.Count(col.LogText(), "subscribed")
	col.Kill()
	if err := col.Start(); err != nil {
		t.Fatal(err)
	}
	// The log goes on from the first run: wait for the new run's line,
	// since the embedded broker keeps nothing for a consumer not yet
	// subscribed.
	eventually(t, 30*time.Second, func() string {
		if strings.Count(col.LogText(), "subscribed") <= subscribed {
			return "the restarted collector has not subscribed"
		}
		return ""
	})
	paused.Store(false)
	time.Sleep(2 * time.Second)
	arriving("after a kill -9 and restart")
	for k, v := range scrape(t, metrics) {
		if strings.HasPrefix(k, "bw_collector_rejected_total{") && v != 0 {
			t.Errorf("after the restart %s = %v: a refused message came back", k, v)
		}
	}
	stopPub()
	pubs.Wait()

	// Every honest value the broker acknowledged is stored, exactly; no
	// hostile value reached an honest series or another site.
	for _, h := range honest {
		h.mu.Lock()
		sent := h.sent
		h.mu.Unlock()
		eventually(t, 20*time.Second, func() string {
			got := stored(h)
			for ts, v := range sent {
				if g, ok := got[ts]; !ok || g != v {
					return fmt.Sprintf("%s/%s at %d: stored %v (present %v), sent %v", h.site, h.gw, ts, g, ok, v)
				}
			}
			for ts, g := range got {
				if v, ok := sent[ts]; !ok || v != g || math.IsNaN(g) {
					return fmt.Sprintf("%s/%s at %d: %v stored, never sent", h.site, h.gw, ts, g)
				}
			}
			return ""
		})
		t.Logf("%s/%s: %d values sent, all stored exactly", h.site, h.gw, len(sent))
	}
	if b.inProcess { // once: InfluxDB is shared by both cases
		// With InfluxDB away /readyz says so, and tells an anonymous caller
		// nothing about where InfluxDB is.
		influx.Stop(5 * time.Second)
		eventually(t, 10*time.Second, func() string {
			code, body := status(t, "GET", "http://"+httpAddr+"/readyz", "")
			host := strings.TrimPrefix(influx.URL, "http://")
			switch {
			case code != 503:
				return fmt.Sprintf("/readyz with InfluxDB stopped: %d %s", code, body)
			case strings.Contains(body, host) || strings.Contains(body, "influx"):
				return fmt.Sprintf("/readyz tells an anonymous caller %q", body)
			}
			return ""
		})
		if err := influx.Start(); err != nil {
			t.Fatal(err)
		}
		influx.WaitReady(t, 30*time.Second)
		eventually(t, 15*time.Second, func() string {
			if code, body := status(t, "GET", "http://"+httpAddr+"/readyz", ""); code != 200 {
				return fmt.Sprintf("/readyz after InfluxDB returned: %d %s", code, body)
			}
			return ""
		})
	}
	res, err := st.Query(ctx, fmt.Sprintf(`from(bucket: %s) |> range(start: -2h, stop: 30d) |> filter(fn: (r) => r.gateway == "gw-bad" or r.site == "plant-z" or r._measurement != "boiler")`, store.FluxString(bucket)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	for res.Next() {
		r := res.Record()
		switch {
		case r.Measurement() != "boiler", r.ValueByKey("site") != "plant-b", r.Time().After(time.Now().Add(time.Hour)):
			t.Errorf("stored: %s %v %s=%v at %s", r.Measurement(), r.Values()["site"], r.Field(), r.Value(), r.Time())
		case r.Field() == "steam_flow" || r.Field() == "legacy_note":
			t.Errorf("gw-bad's %s = %v stored", r.Field(), r.Value())
		}
	}
}
