package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
)

// startSecureBroker runs Mosquitto with the shipped deploy/mosquitto TLS
// config and ACL, pointed at certificates made for the test.
func startSecureBroker(t *testing.T, ca *servicetest.CA) *servicetest.Mosquitto {
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
	if err := os.WriteFile(aclPath, acl, 0o644); err != nil {
		t.Fatal(err)
	}
	c := strings.NewReplacer(
		"listener 8883", "listener {{port}} 127.0.0.1",
		"/etc/boilerwatch/tls/ca.crt", ca.CertFile,
		"/etc/boilerwatch/tls/broker.crt", srv.CertFile,
		"/etc/boilerwatch/tls/broker.key", srv.KeyFile,
		"/etc/mosquitto/conf.d/boilerwatch.acl", aclPath,
	).Replace(string(conf))
	return servicetest.StartMosquittoConf(t, c+"log_dest stderr\n")
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
		SetClientID(id).SetTLSConfig(cfg).SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, os.ErrDeadlineExceeded
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

// TestBrokerIdentity checks the shipped TLS + ACL configuration against
// real Mosquitto: gateways are known by their certificate, can publish only
// as themselves and read only their own config; clients without a valid
// certificate never get in.
func TestBrokerIdentity(t *testing.T) {
	ca := servicetest.NewCA(t)
	mq := startSecureBroker(t, ca)
	now := time.Now()
	valid := func(cn string) *servicetest.Issued {
		c := ca.Issue(t, cn, false, now.Add(-time.Hour), now.Add(time.Hour))
		return &c
	}
	collector, err := tlsClient(t, mq.URL, "collector", ca, valid("collector"))
	if err != nil {
		t.Fatalf("collector with a valid certificate: %v", err)
	}
	received := make(chan string, 16)
	tok := collector.Subscribe("boilerwatch/#", 1, func(_ mqtt.Client, m mqtt.Message) { received <- m.Topic() })
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("collector subscribe: %v", tok.Error())
	}
	gwA, err := tlsClient(t, mq.URL, "gw-a", ca, valid("gw-a"))
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
	publish(gwA, "boilerwatch/v1/plant/gw-b/telemetry", false) // as gateway B: denied
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
	operator, err := tlsClient(t, mq.URL, "operator", ca, valid("operator"))
	if err != nil {
		t.Fatal(err)
	}
	publish(operator, "boilerwatch/v1/plant/gw-b/config", true)
	gwB, err := tlsClient(t, mq.URL, "gw-b", ca, valid("gw-b"))
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
	expired := ca.Issue(t, "gw-old", false, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	if _, err := tlsClient(t, mq.URL, "gw-old", ca, &expired); err == nil {
		t.Error("a client with an expired certificate was let in")
	}
	other := servicetest.NewCA(t)
	foreign := other.Issue(t, "gw-a", false, now.Add(-time.Hour), now.Add(time.Hour))
	if _, err := tlsClient(t, mq.URL, "gw-foreign", ca, &foreign); err == nil {
		t.Error("a client with a certificate from another CA was let in")
	}
}
