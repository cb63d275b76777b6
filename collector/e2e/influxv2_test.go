package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	influxwrite "github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/boilerwatch/boilerwatch/collector/console/password"
	"github.com/boilerwatch/boilerwatch/collector/derived"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// TestInfluxV2Config runs the collector with an InfluxDB 2.x-style
// configuration — a token, an org and a bucket that exists, no database
// creation — against InfluxDB 1.8's 2.x-compatible API with authentication
// on: the token is "user:password" of a user with rights on one database
// only (a token scoped to one bucket), the org is ignored by 1.8, and the
// bucket is "database/retention-policy" with a retention policy that is
// not the default. Every InfluxDB call the collector makes goes through
// it: writes of raw samples, the energy engine's Flux reads and writes,
// the console's Flux queries, the readiness ping and the engine's InfluxQL
// DELETE (1.x only; docs/tiers.md).
func TestInfluxV2Config(t *testing.T) {
	t.Parallel()
	const (
		v2Site   = "plant-v2"
		adminPW  = "admin-Пароль-1"
		userPW   = "collector-secret-2"
		bucket   = "bwprov/raw2y"
		org      = "province-energy"
		consolPW = "auditor-password-3"
	)
	influx := servicetest.StartInfluxAuth(t, "admin", adminPW)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The administrator makes the bucket and the collector's user, as a
	// 2.x administrator makes a bucket and a token for it.
	admin := derived.InfluxQL(influx.URL, "admin:"+adminPW, bucket)
	for _, q := range []string{
		`CREATE DATABASE "bwprov"`,
		`CREATE RETENTION POLICY "raw2y" ON "bwprov" DURATION 730d REPLICATION 1`,
		`CREATE USER "bw-collector" WITH PASSWORD '` + userPW + `'`,
		`GRANT ALL ON "bwprov" TO "bw-collector"`,
	} {
		if err := admin(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	token := "bw-collector:" + userPW

	dir := t.TempDir()
	bins := servicetest.Build(t, "simulator/cmd/simulator", "gateway/cmd/gateway", "collector/cmd/collector")
	sc, err := os.ReadFile(filepath.Join(servicetest.RepoRoot(t), "simulator/scenarios/fouling-day.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	simAddr := freeAddr(t)
	scenario := write(t, filepath.Join(dir, "scenario.yaml"), strings.ReplaceAll(string(sc), "127.0.0.1:5020", simAddr))
	hash, err := password.Hash(consolPW, password.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	// The influxdb section is docs/tiers.md's example for 2.x, with this
	// server's address, bucket and token variable.
	doc, ok := servicetest.DocBlocks(t, "docs/tiers.md", "yaml")["# influxdb section of collector.yaml for InfluxDB 2.x or Cloud (TSM)"]
	if !ok {
		t.Fatal("docs/tiers.md has no influxdb example for 2.x")
	}
	section := strings.NewReplacer("http://127.0.0.1:8086", influx.URL, "BW_INFLUX_TOKEN", "BW_TEST_INFLUX_TOKEN",
		"bucket: boilerwatch ", "bucket: "+bucket+" ").Replace(doc)
	if !strings.Contains(section, "org: "+org) || !strings.Contains(section, bucket) || strings.Contains(section, "create_database") {
		t.Fatalf("docs/tiers.md's influxdb example is not the one this test runs:\n%s", doc)
	}
	broker, httpAddr := freeAddr(t), freeAddr(t)
	colCfg := write(t, filepath.Join(dir, "collector.yaml"), collectorConfig{embedded: broker, clientID: "bw-collector-v2", influx: influx, influxYAML: section,
		extra: fmt.Sprintf("http: {listen: %s}\nconsole:\n  users:\n    - {name: auditor, role: auditor, password_hash: %q}\n", httpAddr, hash) +
			fmt.Sprintf(energyConfig, v2Site)}.yaml())
	collector := &servicetest.Process{Name: bins["collector"], Args: []string{"-config", colCfg, "-report", "5s"},
		Env: []string{"BW_TEST_INFLUX_TOKEN=" + token}, Log: filepath.Join(dir, "collector.log")}
	if err := collector.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		collector.Stop(10 * time.Second)
		if t.Failed() {
			log := collector.LogText()
			t.Logf("--- tail of collector log:\n%s", log[max(0, len(log)-6000):])
		}
	})
	collector.WaitLog(t, "energy engine started", 30*time.Second)

	// The fouling day at ×360 from local midnight: its first hour closes
	// (with the engine's grace of 3 simulated minutes) about 11 s in.
	start := time.Date(2026, 1, 15, 0, 0, 0, 0, mustLoc(t, "Asia/Shanghai"))
	anchor := time.Now().Add(4 * time.Second).Truncate(time.Second)
	sim := servicetest.StartProcess(t, bins["simulator"], "-config", scenario, "-anchor", anchor.Format(time.RFC3339Nano))
	servicetest.WaitTCP(t, simAddr, 10*time.Second)
	gwCfg := write(t, filepath.Join(dir, "gateway.yaml"), gatewayConfig{site: v2Site, id: "gw-v2", broker: "tcp://" + broker,
		queueDir: filepath.Join(dir, "queue"), devices: gwDevices(simAddr, 100*time.Millisecond)}.yaml())
	gateway := servicetest.StartProcess(t, bins["gateway"], "-config", gwCfg,
		"-clock", fmt.Sprintf("anchor=%s,start=%s,rate=%d", anchor.Format(time.RFC3339Nano), start.Format(time.RFC3339), rate))

	st := store.Open(store.Config{URL: influx.URL, Token: token, Org: org, Bucket: bucket})
	t.Cleanup(st.Close)
	count := func(bucket, filter string) int {
		t.Helper()
		res, err := st.Query(ctx, fmt.Sprintf(`from(bucket: %s) |> range(start: 0) |> filter(fn: (r) => %s) |> count()`, store.FluxString(bucket), filter))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		n := 0
		for res.Next() {
			if v, ok := res.Record().Value().(int64); ok {
				n += int(v)
			}
		}
		if res.Err() != nil {
			t.Fatal(res.Err())
		}
		return n
	}
	hourly := `r._measurement == "boiler_efficiency" and r.period == "1h" and r._field == "indirect"`
	for deadline := time.Now().Add(90 * time.Second); count(bucket, hourly) == 0; time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("no hourly efficiency in %s after 90 s", bucket)
		}
	}
	gateway.Stop(10 * time.Second)
	sim.Stop(10 * time.Second)

	raw := `r._measurement == "boiler" and r._field == "steam_flow"`
	t.Run("write", func(t *testing.T) {
		if n := count(bucket, raw); n < 20 {
			t.Errorf("%d raw steam_flow values in %s, want the gateway's samples", n, bucket)
		}
		// The bucket's retention policy is the one written to, not the
		// database's default.
		if n := count("bwprov/autogen", raw); n != 0 {
			t.Errorf("%d raw values in bwprov/autogen, want none", n)
		}
	})
	t.Run("engine", func(t *testing.T) {
		for _, m := range []string{"boiler_efficiency", "energy"} {
			if n := count(bucket, store.Eq("_measurement", m)); n == 0 {
				t.Errorf("the engine wrote no %s into %s", m, bucket)
			}
		}
	})
	base := "http://" + httpAddr
	t.Run("ready", func(t *testing.T) {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("/readyz: %s %s", resp.Status, body)
		}
	})
	t.Run("console", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		resp, err := c.PostForm(base+"/login", url.Values{"user": {"auditor"}, "password": {consolPW}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = c.Get(base + "/api/boiler?" + url.Values{"site": {v2Site}, "boiler": {"boiler1"}, "start": {"2026-01-15"}, "stop": {"2026-01-16"}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/api/boiler: %s %.500s", resp.Status, body)
		}
		// The efficiency frame has the engine's values, read by the
		// console's Flux.
		var ans struct {
			Frames []struct {
				ID      string
				Columns []struct{ Key string }
				Data    [][]any
			}
		}
		if err := json.Unmarshal(body, &ans); err != nil {
			t.Fatal(err)
		}
		values := 0
		for _, f := range ans.Frames {
			for i, c := range f.Columns {
				if f.ID == "efficiency" && c.Key == "indirect" && i < len(f.Data) {
					for _, v := range f.Data[i] {
						if _, ok := v.(float64); ok {
							values++
						}
					}
				}
			}
		}
		if values == 0 {
			t.Errorf("/api/boiler has no indirect efficiency: %.500s", body)
		}
	})
	t.Run("InfluxQL delete", func(t *testing.T) {
		probe := `r._measurement == "v2_probe"`
		if err := st.Write(ctx, influxwrite.NewPoint("v2_probe", map[string]string{"site": v2Site}, map[string]any{"x": 1.0}, time.Now())); err != nil {
			t.Fatal(err)
		}
		if n := count(bucket, probe); n != 1 {
			t.Fatalf("%d probe points written, want 1", n)
		}
		if err := derived.InfluxQL(influx.URL, token, bucket)(ctx, `DELETE FROM "v2_probe" WHERE "site" = '`+v2Site+`'`); err != nil {
			t.Fatal(err)
		}
		if n := count(bucket, probe); n != 0 {
			t.Errorf("%d probe points left after DELETE", n)
		}
	})
	if log := collector.LogText(); strings.Contains(log, userPW) {
		t.Error("the collector logged the InfluxDB password")
	}
	if log := collector.LogText(); strings.Contains(log, "level=ERROR") {
		t.Errorf("the collector logged errors:\n%s", log)
	}
}
