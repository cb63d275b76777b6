package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// TestPipelineTLS runs simulator → gateway → Mosquitto (the shipped TLS
// config and ACL) → collector → InfluxDB, the gateway and the collector
// each with its own client certificate, and checks that samples arrive.
func TestPipelineTLS(t *testing.T) {
	t.Parallel()
	ca := servicetest.NewCA(t)
	mq := startSecureBroker(t, ca)
	broker := strings.Replace(mq.URL, "tcp://", "ssl://", 1)
	now := time.Now()
	// A gateway's CN is site/gateway: the shipped ACL allows it only its own topics.
	gwCert := ca.Issue(t, site+"/"+gatewayID, false, now.Add(-time.Hour), now.Add(time.Hour))
	colCert := ca.Issue(t, "collector", false, now.Add(-time.Hour), now.Add(time.Hour))

	p := &pipeline{dir: t.TempDir()}
	p.bins = servicetest.Build(t, "simulator/cmd/simulator", "gateway/cmd/gateway", "collector/cmd/collector")
	p.influx = servicetest.StartInflux(t)
	simAddr := freeAddr(t)
	p.sim = startSim(t, p.bins["simulator"], filepath.Join(p.dir, "scenario.yaml"), scenarioConfig{listen: simAddr})

	col := collectorConfig{broker: broker, clientID: "bw-collector-tls", influx: p.influx,
		mqtt: fmt.Sprintf("ca_file: %s, cert_file: %s, key_file: %s", ca.CertFile, colCert.CertFile, colCert.KeyFile)}
	p.collector = servicetest.StartProcess(t, p.bins["collector"], "-config", write(t, filepath.Join(p.dir, "collector.yaml"), col.yaml()))
	p.collector.WaitLog(t, "mqtt connected", 20*time.Second)

	// wait_for_collector stays on (the default): the gateway forwards only
	// once it hears the collector's heartbeat through the ACL.
	gw := gatewayConfig{site: site, id: gatewayID, broker: broker, queueDir: filepath.Join(p.dir, "queue"), devices: gwDevices(simAddr, time.Second),
		mqtt: fmt.Sprintf("ca_file: %s, cert_file: %s, key_file: %s", ca.CertFile, gwCert.CertFile, gwCert.KeyFile)}
	p.gateway = servicetest.StartProcess(t, p.bins["gateway"], "-config", write(t, filepath.Join(p.dir, "gateway.yaml"), gw.yaml()))
	p.store = store.Open(store.Config{URL: p.influx.URL, Bucket: p.influx.Bucket})
	t.Cleanup(p.store.Close)

	deadline := time.Now().Add(60 * time.Second)
	for {
		n := countBy(p.samples(t))
		if n["boiler1"] >= 5 && n["meter1"] >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s InfluxDB holds %v samples over TLS, want ≥ 5 per device\ngateway log:\n%s", n, p.gateway.LogText())
		}
		time.Sleep(time.Second)
	}
	if log := p.gateway.LogText(); strings.Contains(log, "mqtt connect failed") {
		t.Errorf("the gateway failed to connect at least once:\n%s", log)
	}
}
