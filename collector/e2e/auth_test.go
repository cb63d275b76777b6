package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// TestInfluxAuth runs the collector against InfluxDB with authentication:
// the token comes from the environment, writes succeed with it, and the
// secret never appears in the collector's log.
func TestInfluxAuth(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-Пароль-42"
	in := servicetest.StartInfluxAuth(t, "bw", secret)
	bins := servicetest.Build(t, "collector/cmd/collector")
	dir := t.TempDir()
	mqttAddr := freeAddr(t)
	cfg := write(t, filepath.Join(dir, "collector.yaml"), collectorConfig{embedded: mqttAddr, clientID: "bw-auth", influx: in,
		token: "token_env: BW_TEST_INFLUX_TOKEN", flush: 50 * time.Millisecond}.yaml())
	col := &servicetest.Process{Name: bins["collector"], Args: []string{"-config", cfg, "-log-level", "debug"},
		Env: []string{"BW_TEST_INFLUX_TOKEN=bw:" + secret}, Log: filepath.Join(dir, "collector.log")}
	if err := col.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { col.Stop(10 * time.Second) })
	col.WaitLog(t, "mqtt connected", 30*time.Second)

	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + mqttAddr).SetClientID("auth-pub"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	ts := time.Now().Truncate(time.Millisecond)
	m := telemetry.Message{V: 1, Site: "plant-auth", Gateway: "gw-auth", Seq: 1, Boot: "b1", Samples: []telemetry.Sample{{
		Device: "boiler1", Profile: "szl-chain-grate-plc", Class: "boiler", TS: ts.UnixMilli(),
		Values: map[string]telemetry.Value{"steam_flow": telemetry.Number(7.25)},
	}}}
	payload, _ := json.Marshal(m)
	if tok := c.Publish(telemetry.SamplesTopic("plant-auth", "gw-auth"), 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	authed := store.Open(store.Config{URL: in.URL, Bucket: in.Bucket, Token: "bw:" + secret})
	defer authed.Close()
	flux := fmt.Sprintf(`from(bucket: %s) |> range(start: 0) |> filter(fn: (r) => %s)`, store.FluxString(in.Bucket), store.And(store.Eq("gateway", "gw-auth"), store.Eq("_field", "steam_flow")))
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := authed.Query(context.Background(), flux)
		if err != nil {
			t.Fatal(err)
		}
		var got []any
		for res.Next() {
			got = append(got, res.Record().Value())
		}
		res.Close()
		if len(got) == 1 && got[0] == 7.25 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("InfluxDB holds %v, want [7.25]", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Without the token InfluxDB refuses: authentication is really on.
	anon := store.Open(store.Config{URL: in.URL, Bucket: in.Bucket})
	defer anon.Close()
	if res, err := anon.Query(context.Background(), flux); err == nil {
		res.Close()
		t.Error("query without a token succeeded: authentication is off")
	}
	if log := col.LogText(); strings.Contains(log, secret) {
		t.Errorf("the collector logged the InfluxDB password:\n%s", log)
	}
}
