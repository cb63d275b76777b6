package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// startSecureBroker runs Mosquitto with the shipped deploy/mosquitto TLS
// config and ACL and the delivery settings of conf.d/boilerwatch.conf
// (persistence in a temporary directory, the packet size limit), pointed
// at certificates made for the test.
func startSecureBroker(t *testing.T, ca *servicetest.CA) *servicetest.Mosquitto {
	t.Helper()
	return startSecureBrokerWith(t, ca, "", "")
}

// startSecureBrokerWith is startSecureBroker with moreACL appended to the
// shipped ACL and moreConf to the configuration (a bridge's, e.g.).
func startSecureBrokerWith(t *testing.T, ca *servicetest.CA, moreACL, moreConf string) *servicetest.Mosquitto {
	t.Helper()
	root := servicetest.RepoRoot(t)
	conf, err := os.ReadFile(filepath.Join(root, "deploy/mosquitto/tls.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv := ca.Issue(t, "broker", true, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	acl, err := os.ReadFile(filepath.Join(root, "deploy/mosquitto/boilerwatch.acl"))
	if err != nil {
		t.Fatal(err)
	}
	aclPath := filepath.Join(dir, "boilerwatch.acl")
	if err := os.WriteFile(aclPath, append(acl, moreACL...), 0o644); err != nil {
		t.Fatal(err)
	}
	c := strings.NewReplacer(
		"listener 8883", "listener {{port}} 127.0.0.1",
		"/etc/boilerwatch/tls/ca.crt", ca.CertFile,
		"/etc/boilerwatch/tls/broker.crt", srv.CertFile,
		"/etc/boilerwatch/tls/broker.key", srv.KeyFile,
		"/etc/mosquitto/conf.d/boilerwatch.acl", aclPath,
	).Replace(string(conf))
	delivery, err := os.ReadFile(filepath.Join(root, "deploy/mosquitto/conf.d/boilerwatch.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return servicetest.StartMosquittoConf(t, c+"\n"+string(delivery)+"persistence_location {{dir}}/\nlog_dest stderr\n"+moreConf)
}

// tlsClient connects with the given client certificate (nil: none).
func tlsClient(t *testing.T, url, id string, ca *servicetest.CA, cert *servicetest.Issued) (mqtt.Client, error) {
	t.Helper()
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		kp, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	opts := mqtt.NewClientOptions().AddBroker(strings.Replace(url, "tcp://", "ssl://", 1)).
		SetClientID(id).SetTLSConfig(cfg).SetConnectTimeout(10 * time.Second).SetAutoReconnect(false)
	// A connection that times out is tried again, up to three times: two
	// fresh-clone CI runs on this 2-core machine, every core busy with
	// other packages' tests, failed TestBridge when one TLS connect to the
	// regional broker on loopback did not complete in 5 s, then in 15 s;
	// alone it passes. A refused one (the tests of forged, expired and
	// foreign certificates) is an answer, returned at once.
	for attempt := 1; ; attempt++ {
		c := mqtt.NewClient(opts)
		tok := c.Connect()
		err := os.ErrDeadlineExceeded
		if tok.WaitTimeout(15 * time.Second) {
			err = tok.Error()
		}
		if err == nil {
			t.Cleanup(func() { c.Disconnect(100) })
			return c, nil
		}
		timedOut := errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline exceeded")
		if !timedOut || attempt == 3 {
			return nil, err
		}
		t.Logf("MQTT connect to %s as %s, attempt %d: %v; trying again", url, id, attempt, err)
	}
}

// TestBrokerIdentity checks the shipped TLS + ACL configuration against
// real Mosquitto: gateways are known by their certificate (CN
// site/gateway), can publish only as themselves and read only their own
// config; clients without a valid certificate never get in.
func TestBrokerIdentity(t *testing.T) {
	t.Parallel()
	ca := servicetest.NewCA(t)
	mq := startSecureBroker(t, ca)
	now := time.Now()
	collector, err := tlsClient(t, mq.URL, "collector", ca, ca.Valid(t, "collector"))
	if err != nil {
		t.Fatalf("collector with a valid certificate: %v", err)
	}
	received := make(chan string, 16)
	tok := collector.Subscribe("boilerwatch/#", 1, func(_ mqtt.Client, m mqtt.Message) { received <- m.Topic() })
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("collector subscribe: %v", tok.Error())
	}
	gwA, err := tlsClient(t, mq.URL, "gw-a", ca, ca.Valid(t, "plant/gw-a"))
	if err != nil {
		t.Fatalf("gateway A with a valid certificate: %v", err)
	}
	publish := func(c mqtt.Client, topic string, retained bool) {
		t.Helper()
		tok := c.Publish(topic, 1, retained, []byte(`{}`))
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	// As gateway B: denied. Mosquitto 2.0.11 answers with a PUBACK carrying
	// reason code 135 (not authorized) that an MQTT 3.1.1 client takes for
	// a broken connection, so the attempt gets its own connection.
	if forger, err := tlsClient(t, mq.URL, "gw-a-forger", ca, ca.Valid(t, "plant/gw-a")); err == nil {
		forger.Publish("boilerwatch/v1/plant/gw-b/telemetry", 1, false, []byte(`{}`)).WaitTimeout(5 * time.Second)
	}
	publish(gwA, "boilerwatch/v1/plant/gw-a/telemetry", false) // its own: allowed
	select {
	case topic := <-received:
		if topic != "boilerwatch/v1/plant/gw-a/telemetry" {
			t.Fatalf("collector received %s: gateway A published as another gateway", topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("gateway A's own telemetry never reached the collector")
	}

	// Configs: the operator pushes one for gateway B; A may not read it.
	operator, err := tlsClient(t, mq.URL, "operator", ca, ca.Valid(t, "operator"))
	if err != nil {
		t.Fatal(err)
	}
	publish(operator, "boilerwatch/v1/plant/gw-b/config", true)
	gwB, err := tlsClient(t, mq.URL, "gw-b", ca, ca.Valid(t, "plant/gw-b"))
	if err != nil {
		t.Fatal(err)
	}
	got := func(c mqtt.Client, topic string) bool {
		ch := make(chan struct{}, 1)
		tok := c.Subscribe(topic, 1, func(mqtt.Client, mqtt.Message) { ch <- struct{}{} })
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", topic, tok.Error())
		}
		select {
		case <-ch:
			return true
		case <-time.After(2 * time.Second):
			return false
		}
	}
	if !got(gwB, "boilerwatch/v1/plant/gw-b/config") {
		t.Error("gateway B cannot read its own config")
	}
	if got(gwA, "boilerwatch/v1/plant/gw-b/config") {
		t.Error("gateway A read gateway B's config")
	}

	// No certificate, an expired one, one from another CA: refused.
	if _, err := tlsClient(t, mq.URL, "anon", ca, nil); err == nil {
		t.Error("a client without a certificate was let in")
	}
	expired := ca.Issue(t, "plant/gw-old", false, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	if _, err := tlsClient(t, mq.URL, "gw-old", ca, &expired); err == nil {
		t.Error("a client with an expired certificate was let in")
	}
	other := servicetest.NewCA(t)
	foreign := other.Issue(t, "plant/gw-a", false, now.Add(-time.Hour), now.Add(time.Hour))
	if _, err := tlsClient(t, mq.URL, "gw-foreign", ca, &foreign); err == nil {
		t.Error("a client with a certificate from another CA was let in")
	}
}

// TestCrossSiteForgery: under the shipped ACL and mTLS on real Mosquitto, a
// gateway with a valid certificate for plant-a/gw-01 cannot get one message
// into plant-b, or any other gateway's or site's topics, by any topic; nor
// leave a retained status for an invented site. A certificate of the old
// kind (CN = gateway id only) may publish nothing. The collector also
// checks the payload's site and gateway against the topic (ingest), so the
// one topic gw-01 may use carries only plant-a/gw-01's data.
func TestCrossSiteForgery(t *testing.T) {
	t.Parallel()
	ca := servicetest.NewCA(t)
	mq := startSecureBroker(t, ca)
	collector, err := tlsClient(t, mq.URL, "collector", ca, ca.Valid(t, "collector"))
	if err != nil {
		t.Fatal(err)
	}
	received := make(chan string, 64)
	if tok := collector.Subscribe("boilerwatch/#", 1, func(_ mqtt.Client, m mqtt.Message) { received <- m.Topic() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("collector subscribe: %v", tok.Error())
	}
	gw, err := tlsClient(t, mq.URL, "plant-a-gw-01", ca, ca.Valid(t, "plant-a/gw-01"))
	if err != nil {
		t.Fatalf("plant-a/gw-01 with a valid certificate: %v", err)
	}
	forged := []string{
		"boilerwatch/v1/plant-b/gw-01/telemetry",
		"boilerwatch/v1/plant-b/gw-02/telemetry",
		"boilerwatch/v1/plant-a/gw-02/telemetry",
		"boilerwatch/v1/plant-b/plant-a/gw-01/telemetry",
		"boilerwatch/v1/plant-a/gw-01/telemetry/x",
		"boilerwatch/v1/plant-b/gw-01/status",
		"boilerwatch/v1/invented/gw-01/status",
		"boilerwatch/v1/plant-b/gw-01/config",
		"boilerwatch/v1/plant-a/gw-01/config",
		"boilerwatch/v1/plant-b/gw-01/config/ack",
		"boilerwatch/v1/plant-b/alerts",
		"boilerwatch/v1/collectors/heartbeat",
	}
	// Mosquitto drops a denied publish and answers an MQTT 3.1.1 client
	// with a PUBACK carrying reason code 135, which paho takes for a broken
	// connection: each attempt gets its own connection.
	attempt := func(cn, topic string, retained bool) {
		c, err := tlsClient(t, mq.URL, fmt.Sprintf("forger-%d", len(received)+int(time.Now().UnixNano()%1e9)), ca, ca.Valid(t, cn))
		if err != nil {
			t.Fatalf("%s with a valid certificate: %v", cn, err)
		}
		c.Publish(topic, 1, retained, []byte(`{"site":"plant-b","gateway":"gw-01"}`)).WaitTimeout(5 * time.Second)
	}
	for _, topic := range forged {
		attempt("plant-a/gw-01", topic, strings.HasSuffix(topic, "/status") || strings.HasSuffix(topic, "/config"))
	}
	// A certificate of the old kind (CN = gateway id) publishes into no
	// site (its patterns expand to four-level topics nobody consumes).
	for _, topic := range []string{"boilerwatch/v1/plant-a/gw-01/telemetry", "boilerwatch/v1/plant-b/gw-01/telemetry", "boilerwatch/v1/plant-a/gw-01/status"} {
		attempt("gw-01", topic, false)
	}
	// Its own topics pass, in order after everything above.
	own := []string{"boilerwatch/v1/plant-a/gw-01/status", "boilerwatch/v1/plant-a/gw-01/config/ack", "boilerwatch/v1/plant-a/gw-01/telemetry"}
	for _, topic := range own {
		if tok := gw.Publish(topic, 1, false, []byte(`{}`)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	var got []string
	for len(got) < len(own) {
		select {
		case topic := <-received:
			got = append(got, topic)
		case <-time.After(5 * time.Second):
			t.Fatalf("the collector received %v, want %v", got, own)
		}
	}
	if strings.Join(got, " ") != strings.Join(own, " ") {
		t.Errorf("the collector received %v, want only plant-a/gw-01's own topics %v", got, own)
	}
	// No retained status or config was left for anyone: a new operator
	// subscription finds none.
	operator, err := tlsClient(t, mq.URL, "operator", ca, ca.Valid(t, "operator"))
	if err != nil {
		t.Fatal(err)
	}
	retained := make(chan string, 16)
	if tok := operator.Subscribe("boilerwatch/v1/+/+/status", 1, func(_ mqtt.Client, m mqtt.Message) { retained <- m.Topic() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	select {
	case topic := <-retained:
		t.Errorf("a retained status was left on %s", topic)
	case <-time.After(time.Second):
	}
	// Nor can it read another gateway's config or the telemetry.
	for _, f := range []string{"boilerwatch/v1/plant-b/gw-01/config", "boilerwatch/v1/+/+/telemetry", "boilerwatch/#"} {
		leak := make(chan string, 1)
		gw.Subscribe(f, 1, func(_ mqtt.Client, m mqtt.Message) { leak <- m.Topic() }).WaitTimeout(5 * time.Second)
		if tok := operator.Publish("boilerwatch/v1/plant-b/gw-01/config", 1, false, []byte(`{}`)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		select {
		case topic := <-leak:
			t.Errorf("plant-a/gw-01 subscribed to %s and read %s", f, topic)
		case <-time.After(time.Second):
		}
	}
}

// TestBrokerPacketLimit: the shipped max_packet_size lets the largest
// payload the collector decodes through and disconnects a client that
// sends more, without delivering it.
func TestBrokerPacketLimit(t *testing.T) {
	t.Parallel()
	ca := servicetest.NewCA(t)
	mq := startSecureBroker(t, ca)
	collector, err := tlsClient(t, mq.URL, "collector", ca, ca.Valid(t, "collector"))
	if err != nil {
		t.Fatal(err)
	}
	sizes := make(chan int, 4)
	if tok := collector.Subscribe(telemetry.SamplesFilter, 1, func(_ mqtt.Client, m mqtt.Message) { sizes <- len(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	gw, err := tlsClient(t, mq.URL, "plant-a-gw-01", ca, ca.Valid(t, "plant-a/gw-01"))
	if err != nil {
		t.Fatal(err)
	}
	topic := telemetry.SamplesTopic("plant-a", "gw-01")
	if tok := gw.Publish(topic, 1, false, make([]byte, telemetry.MaxPayload)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish of %d bytes: %v", telemetry.MaxPayload, tok.Error())
	}
	select {
	case n := <-sizes:
		if n != telemetry.MaxPayload {
			t.Errorf("collector got %d bytes, want %d", n, telemetry.MaxPayload)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("a payload of telemetry.MaxPayload (%d bytes) did not pass the broker", telemetry.MaxPayload)
	}
	gw.Publish(topic, 1, false, make([]byte, 2<<20)).WaitTimeout(10 * time.Second)
	time.Sleep(500 * time.Millisecond)
	if gw.IsConnectionOpen() {
		t.Error("Mosquitto kept the connection of a 2 MiB publish open")
	}
	select {
	case n := <-sizes:
		t.Errorf("Mosquitto delivered a %d-byte publish", n)
	case <-time.After(time.Second):
	}
	if !strings.Contains(mq.LogText(), "plant-a-gw-01") {
		t.Logf("mosquitto log:\n%s", mq.LogText())
	}
}
