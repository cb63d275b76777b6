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
	simAddr := fmt.Sprintf("127.0.0.1:%d", servicetest.FreePort(t))
	scenario := write(t, filepath.Join(p.dir, "scenario.yaml"), fmt.Sprintf(`boilers: [{name: b1}]
servers:
  - listen: %s
    devices:
      - {name: boiler1, unit_id: 1, profile: szl-chain-grate-plc, boiler: b1}
      - {name: meter1, unit_id: 2, profile: chint-dtsu666, boiler: b1}
`, simAddr))
	p.sim = servicetest.StartProcess(t, p.bins["simulator"], "-config", scenario)
	servicetest.WaitTCP(t, simAddr, 10*time.Second)

	colCfg := write(t, filepath.Join(p.dir, "collector.yaml"), fmt.Sprintf(`mqtt:
  broker: %s
  client_id: bw-collector-tls
  ca_file: %s
  cert_file: %s
  key_file: %s
influxdb: {url: %s, bucket: %s, create_database: true}
batch: {flush: 100ms}
ingest: {data_dir: data}
`, broker, ca.CertFile, colCert.CertFile, colCert.KeyFile, p.influx.URL, p.influx.Bucket))
	p.collector = servicetest.StartProcess(t, p.bins["collector"], "-config", colCfg)
	p.collector.WaitLog(t, "mqtt connected", 20*time.Second)

	// wait_for_collector stays on (the default): the gateway forwards only
	// once it hears the collector's heartbeat through the ACL.
	gwCfg := write(t, filepath.Join(p.dir, "gateway.yaml"), fmt.Sprintf(`site: %s
gateway: %s
mqtt: {broker: "%s", ca_file: %s, cert_file: %s, key_file: %s}
queue: {dir: %s}
devices:
  - {name: boiler1, profile: szl-chain-grate-plc, address: "%s", unit_id: 1, interval: 1s}
  - {name: meter1, profile: chint-dtsu666, address: "%s", unit_id: 2, interval: 1s}
`, site, gatewayID, broker, ca.CertFile, gwCert.CertFile, gwCert.KeyFile, filepath.Join(p.dir, "queue"), simAddr, simAddr))
	p.gateway = servicetest.StartProcess(t, p.bins["gateway"], "-config", gwCfg)
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
