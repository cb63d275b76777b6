package e2e

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// TestGatewayStatus checks the retained birth message on connect and the
// last will the broker publishes when the gateway dies without a goodbye.
func TestGatewayStatus(t *testing.T) {
	t.Parallel()
	bins := servicetest.Build(t, "simulator/cmd/simulator", "gateway/cmd/gateway")
	mq := servicetest.StartMosquitto(t, "")
	dir := t.TempDir()
	simAddr := freeAddr(t)
	startSim(t, bins["simulator"], filepath.Join(dir, "scenario.yaml"), scenarioConfig{listen: simAddr, devices: []string{simBoiler}})
	gwCfg := gatewayConfig{version: 7, site: site, id: "gw-status", broker: mq.URL, mqtt: "keepalive: 2s",
		queueDir: filepath.Join(dir, "queue"), devices: []string{gwBoiler(simAddr, time.Second)}}
	gw := servicetest.StartProcess(t, bins["gateway"], "-config", write(t, filepath.Join(dir, "gateway.yaml"), gwCfg.yaml()))

	statuses := make(chan telemetry.Status, 16)
	opts := mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("status-watcher")
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	tok := c.Subscribe(telemetry.StatusTopic(site, "gw-status"), 1, func(_ mqtt.Client, m mqtt.Message) {
		var st telemetry.Status
		if err := json.Unmarshal(m.Payload(), &st); err != nil {
			t.Errorf("status payload %q: %v", m.Payload(), err)
			return
		}
		statuses <- st
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	wait := func(state string) telemetry.Status {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case st := <-statuses:
				if st.State == state {
					return st
				}
			case <-deadline:
				t.Fatalf("no %q status within 30 s", state)
			}
		}
	}
	birth := wait("online")
	if birth.Gateway != "gw-status" || birth.Boot == "" || birth.ConfigVersion != "7" || birth.V != telemetry.Version {
		t.Errorf("birth = %+v", birth)
	}
	// Let a few polls happen, then pull the plug.
	time.Sleep(3 * time.Second)
	gw.Kill()
	will := wait("offline")
	if will.Boot != birth.Boot {
		t.Errorf("last will carries boot %q, birth %q", will.Boot, birth.Boot)
	}
}
