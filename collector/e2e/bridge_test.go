package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// bridgeSite is a site of the shipped bridge's region (regional.conf).
const bridgeSite = "plant-a"

// startRegionalBroker runs the regional Mosquitto of docs/tiers.md: the
// shipped TLS listener, ACL and delivery settings for its gateways, and
// deploy/mosquitto/bridge/regional.conf bridging it, with the bridge's
// certificate, to centralAddr.
func startRegionalBroker(t *testing.T, ca *servicetest.CA, centralAddr string) *servicetest.Mosquitto {
	t.Helper()
	conf, err := os.ReadFile(filepath.Join(servicetest.RepoRoot(t), "deploy/mosquitto/bridge/regional.conf"))
	if err != nil {
		t.Fatal(err)
	}
	cert := ca.Valid(t, "bridge-east")
	bridge := strings.NewReplacer(
		"CENTRAL_BROKER:8883", centralAddr,
		"/etc/boilerwatch/tls/ca.crt", ca.CertFile,
		"/etc/boilerwatch/tls/bridge-east.crt", cert.CertFile,
		"/etc/boilerwatch/tls/bridge-east.key", cert.KeyFile,
	).Replace(string(conf))
	return startSecureBrokerWith(t, ca, "", "\n"+bridge)
}

// startCentralBroker runs the central Mosquitto: the shipped TLS listener
// and delivery settings, and boilerwatch.acl with the bridge's user
// (deploy/mosquitto/bridge/central.acl) appended.
func startCentralBroker(t *testing.T, ca *servicetest.CA) *servicetest.Mosquitto {
	t.Helper()
	acl, err := os.ReadFile(filepath.Join(servicetest.RepoRoot(t), "deploy/mosquitto/bridge/central.acl"))
	if err != nil {
		t.Fatal(err)
	}
	return startSecureBrokerWith(t, ca, "\n"+string(acl), "")
}

// TestBridge runs simulator → gateway → regional Mosquitto → bridge →
// central Mosquitto → collector → InfluxDB with the shipped bridge
// configuration, TLS and ACLs, and breaks the bridge mid-stream: the link
// between the brokers is cut, the regional broker is restarted while the
// link is down (what it queued for the bridge must survive), the link
// comes back, and it is cut once more. Then every sample the gateway
// logged as queued must be in InfluxDB exactly once, with its seq, and
// nothing else. Last, the central ACL: the bridge's login may publish for
// its region's sites and for no other.
func TestBridge(t *testing.T) {
	t.Parallel()
	began := time.Now()
	step := func(format string, a ...any) {
		t.Logf("%6.1fs  %s", time.Since(began).Seconds(), fmt.Sprintf(format, a...))
	}
	dir := t.TempDir()
	bins := servicetest.Build(t, "simulator/cmd/simulator", "gateway/cmd/gateway", "collector/cmd/collector")
	influx := servicetest.StartInflux(t)
	st := store.Open(store.Config{URL: influx.URL, Bucket: influx.Bucket})
	t.Cleanup(st.Close)
	ca := servicetest.NewCA(t)

	central := startCentralBroker(t, ca)
	link := servicetest.StartRelay(t, central.Addr)
	tlsFiles := func(cert *servicetest.Issued) string {
		return fmt.Sprintf("ca_file: %s, cert_file: %s, key_file: %s", ca.CertFile, cert.CertFile, cert.KeyFile)
	}
	// The collector's persistent session on the central broker exists
	// before the first message.
	col := servicetest.StartProcess(t, bins["collector"], "-config", write(t, filepath.Join(dir, "collector.yaml"), collectorConfig{
		broker: strings.Replace(central.URL, "tcp://", "ssl://", 1), clientID: "bw-collector-central", influx: influx,
		mqtt: tlsFiles(ca.Valid(t, "collector"))}.yaml()), "-report", "5s")
	col.WaitLog(t, "subscribed", 30*time.Second)
	regional := startRegionalBroker(t, ca, link.Addr)
	regional.WaitLog(t, "Connecting bridge", 10*time.Second)

	g := &chaosGateway{id: "gw-01", record: filepath.Join(dir, "served.jsonl")}
	simAddr := freeAddr(t)
	g.sim = startSim(t, bins["simulator"], filepath.Join(dir, "scenario.yaml"), scenarioConfig{listen: simAddr, update: 100 * time.Millisecond}, "-record", g.record)
	gw := gatewayConfig{site: bridgeSite, id: g.id, broker: strings.Replace(regional.URL, "tcp://", "ssl://", 1),
		mqtt: "keepalive: 5s, " + tlsFiles(ca.Valid(t, bridgeSite+"/"+g.id)), queueDir: filepath.Join(dir, "queue"),
		devices: gwDevices(simAddr, 250*time.Millisecond)}
	g.proc = servicetest.StartProcess(t, bins["gateway"], "-config", write(t, filepath.Join(dir, "gateway.yaml"), gw.yaml()), "-log-level", "debug", "-drain", "30s")

	waitFlowing := func(what string) {
		t.Helper()
		base := len(chaosSamples(t, st, influx.Bucket, g.id))
		deadline := time.Now().Add(45 * time.Second)
		for len(chaosSamples(t, st, influx.Bucket, g.id)) < base+8 {
			if time.Now().After(deadline) {
				t.Fatalf("no new samples in InfluxDB for 45 s %s", what)
			}
			time.Sleep(500 * time.Millisecond)
		}
		step("samples flowing %s", what)
	}
	waitFlowing("through the bridge")
	time.Sleep(2 * time.Second)

	// The link drops mid-stream. Until the gateway misses the heartbeat
	// (6 s) it goes on publishing: the regional broker queues that for the
	// bridge, and a clean restart of the broker must keep it.
	step("cutting the link between the brokers")
	link.Cut()
	time.Sleep(4 * time.Second)
	step("restarting the regional broker while the link is down")
	regional.Stop(10 * time.Second)
	if err := regional.Start(); err != nil {
		t.Fatal(err)
	}
	servicetest.WaitTCP(t, regional.Addr, 10*time.Second)
	time.Sleep(3 * time.Second)
	link.Restore()
	step("link restored")
	waitFlowing("after the link outage and the regional restart")

	// A drop of the link with messages in flight and no pause.
	link.Cut()
	link.Restore()
	step("link cut and restored at once")
	waitFlowing("after the second cut")
	time.Sleep(2 * time.Second)

	g.stopped = time.Now()
	g.proc.Stop(40 * time.Second)
	if !strings.Contains(g.proc.LogText(), "unsent=0") {
		t.Errorf("the gateway stopped with records unsent")
	}
	g.sim.Stop(10 * time.Second)
	want := g.queued(t)
	var got []sample
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		got = chaosSamples(t, st, influx.Bucket, g.id)
		// InfluxDB 1.x stores each field on its own: a point read while
		// it is being written can lack some (a CI run read the last
		// sample without its _seq). Complete means every point has one.
		complete := true
		for _, s := range got {
			if _, ok := s.fields["_seq"].(int64); !ok {
				complete = false
			}
		}
		if (len(got) >= len(want) && complete) || time.Now().After(deadline) {
			break
		}
	}
	step("verifying %d queued samples", len(want))
	verifyChaos(t, g, want, got)
	// Each seq is stored once: a message redelivered by the bridge or the
	// broker overwrote its own point, it did not add one.
	perSeq := map[int64]int{}
	for _, s := range got {
		seq, ok := s.fields["_seq"].(int64)
		if !ok {
			t.Errorf("%s at %s has no _seq", s.device, s.ts)
		}
		perSeq[seq]++
	}
	for seq, n := range perSeq {
		if n != 1 {
			t.Errorf("seq %d stored %d times", seq, n)
		}
	}
	if len(perSeq) != len(want) {
		t.Errorf("%d distinct seqs stored, %d queued", len(perSeq), len(want))
	}
	if events := chaosEvents(t, st, influx.Bucket); len(events) > 0 {
		t.Errorf("InfluxDB holds seq_gap events: %v", events)
	}
	t.Logf("collector: %s; regional broker: %d bridge connections", lastMatch(col.LogText(), `redelivered_total=\d+`),
		strings.Count(regional.LogText(), "Connecting bridge"))

	t.Run("central ACL", func(t *testing.T) { checkBridgeACL(t, ca, central) })
	t.Run("status out, config in", func(t *testing.T) { checkBridgeRetained(t, ca, central, regional, g.id) })
}

// checkBridgeRetained checks the retained messages both ways: the
// gateway's status, published on the regional broker, is on the central
// one; a config the operator pushes on the central broker reaches the
// gateway's config topic on the regional one.
func checkBridgeRetained(t *testing.T, ca *servicetest.CA, central, regional *servicetest.Mosquitto, gw string) {
	first := func(c mqtt.Client, topic string) string {
		t.Helper()
		got := make(chan string, 1)
		if tok := c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
			select {
			case got <- string(m.Payload()):
			default:
			}
		}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", topic, tok.Error())
		}
		select {
		case p := <-got:
			return p
		case <-time.After(15 * time.Second):
			t.Fatalf("nothing on %s within 15 s", topic)
			return ""
		}
	}
	op, err := tlsClient(t, central.URL, "operator", ca, ca.Valid(t, "operator"))
	if err != nil {
		t.Fatal(err)
	}
	if status := first(op, telemetry.StatusTopic(bridgeSite, gw)); !strings.Contains(status, `"`+gw+`"`) {
		t.Errorf("central broker's status of %s: %s", gw, status)
	}
	const config = `{"probe":"through the bridge"}`
	if tok := op.Publish(telemetry.ConfigTopic(bridgeSite, gw), 1, true, config); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("push config: %v", tok.Error())
	}
	gwClient, err := tlsClient(t, regional.URL, "config-reader", ca, ca.Valid(t, bridgeSite+"/"+gw))
	if err != nil {
		t.Fatal(err)
	}
	if got := first(gwClient, telemetry.ConfigTopic(bridgeSite, gw)); got != config {
		t.Errorf("regional broker's config of %s: %s, want %s", gw, got, config)
	}
}

// checkBridgeACL publishes with the bridge's certificate on the central
// broker: telemetry of a site of its region arrives; telemetry of another
// site, alerts, heartbeats and config pushes (which only the collector
// and the operator may send) do not.
func checkBridgeACL(t *testing.T, ca *servicetest.CA, central *servicetest.Mosquitto) {
	watch, err := tlsClient(t, central.URL, "acl-watch", ca, ca.Valid(t, "collector"))
	if err != nil {
		t.Fatal(err)
	}
	// The probes' topics, told from other traffic (the collector's
	// heartbeats) by their payload.
	seen := make(chan string, 16)
	if tok := watch.Subscribe("boilerwatch/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		if strings.Contains(string(m.Payload()), `"gw-acl"`) {
			seen <- m.Topic()
		}
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	const allowed = "boilerwatch/v1/plant-a/gw-acl/telemetry"
	cert := ca.Valid(t, "bridge-east")
	// A denied QoS 1 publish breaks an MQTT 3.1.1 client's connection on
	// Mosquitto 2.0.11 (TestBrokerIdentity): one connection per attempt,
	// the allowed one last, so that once it arrived the others had their
	// chance.
	for i, topic := range []string{"boilerwatch/v1/plant-z/gw-01/telemetry", "boilerwatch/v1/plant-a/alerts",
		"boilerwatch/v1/collectors/heartbeat", "boilerwatch/v1/plant-a/gw-01/config", allowed} {
		c, err := tlsClient(t, central.URL, fmt.Sprintf("bridge-probe-%d", i), ca, cert)
		if err != nil {
			t.Fatalf("bridge certificate on the central broker: %v", err)
		}
		c.Publish(topic, 1, false, steamSample("plant-a", "gw-acl", 1, 4.5)).WaitTimeout(5 * time.Second)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case topic := <-seen:
			if topic == allowed {
				return
			}
			t.Errorf("the bridge's login published on %s", topic)
		case <-timeout:
			t.Fatal("telemetry of plant-a published with the bridge's login never arrived")
		}
	}
}
