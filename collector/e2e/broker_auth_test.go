package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/console/password"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// brokerLogin is one MQTT login to the collector's embedded broker.
type brokerLogin struct {
	user, pass string
	will       string // a last-will topic, retained; empty: none
}

// connectEmbedded connects to addr; the error is the broker's refusal.
func connectEmbedded(t *testing.T, addr, id string, l brokerLogin) (mqtt.Client, error) {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetUsername(l.user).SetPassword(l.pass).SetConnectTimeout(5 * time.Second).
		SetAutoReconnect(false).SetConnectRetry(false).SetWriteTimeout(10 * time.Second)
	if l.will != "" {
		opts.SetBinaryWill(l.will, []byte(`{"state":"offline"}`), 1, true)
	}
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect: no CONNACK within 10 s")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

// steamSample is a telemetry message with one steam_flow value.
func steamSample(siteID, gw string, seq uint64, v float64) []byte {
	m := telemetry.Message{V: 1, Site: siteID, Gateway: gw, Seq: seq, Boot: "b1", Samples: []telemetry.Sample{{
		Device: "boiler1", Profile: "szl-chain-grate-plc", Class: "boiler", TS: time.Now().UnixMilli(),
		Values: map[string]telemetry.Value{"steam_flow": telemetry.Number(v)},
	}}}
	payload, _ := json.Marshal(m)
	return payload
}

// subscribeGranted reports whether the broker granted a subscription.
func subscribeGranted(t *testing.T, c mqtt.Client, filter string, h mqtt.MessageHandler) bool {
	t.Helper()
	tok := c.Subscribe(filter, 1, h)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return false // refused by closing the connection
	}
	qos, ok := tok.(*mqtt.SubscribeToken).Result()[filter]
	return ok && qos <= 2
}

// TestEmbeddedBrokerAuth runs the real collector with its embedded broker,
// a gateway registry with password hashes and an operator account, and
// tries what a hostile client or gateway would: log in without or with a
// wrong password, publish into another site, read others' topics, leave
// a retained status for an invented site (directly or as a last will),
// and send a 32 MB publish. Afterwards the collector runs, its memory has
// not grown with the oversize publish, and two honest gateways' values are
// stored exactly, under their own site.
func TestEmbeddedBrokerAuth(t *testing.T) {
	t.Parallel()
	in := servicetest.StartInflux(t)
	bins := servicetest.Build(t, "collector/cmd/collector")
	dir := t.TempDir()
	addr := freeAddr(t)
	hash := func(pw string) string {
		h, err := password.Hash(pw, password.MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	cfg := write(t, filepath.Join(dir, "collector.yaml"), collectorConfig{embedded: addr, clientID: "bw-brokerauth", influx: in, flush: 50 * time.Millisecond,
		mqtt: fmt.Sprintf(`embedded_users: [{username: pusher, role: operator, password_hash: "%s"}]`, hash("op-pw")),
		extra: fmt.Sprintf(`gateways:
  - {site: plant-a, gateway: gw-01, password_hash: "%s"}
  - {site: plant-b, gateway: gw-01, password_hash: "%s"}
`, hash("a-pw"), hash("b-pw"))}.yaml())
	col := servicetest.StartProcess(t, bins["collector"], "-config", cfg)
	col.WaitLog(t, "mqtt connected", 30*time.Second)

	gwA := brokerLogin{user: "plant-a/gw-01", pass: "a-pw"}
	gwB := brokerLogin{user: "plant-b/gw-01", pass: "b-pw"}
	operator := brokerLogin{user: "pusher", pass: "op-pw"}

	// No login, a wrong password, an unknown user, the old CN-only name.
	for name, l := range map[string]brokerLogin{
		"anonymous":      {},
		"wrong password": {user: gwA.user, pass: "b-pw"},
		"unknown user":   {user: "plant-c/gw-09", pass: "a-pw"},
		"gateway id":     {user: "gw-01", pass: "a-pw"},
		"collector":      {user: "collector", pass: ""},
	} {
		if _, err := connectEmbedded(t, addr, "hostile-"+strings.ReplaceAll(name, " ", "-"), l); err == nil {
			t.Errorf("%s: the embedded broker let the client in", name)
		}
	}

	// A gateway's last will on another site's status topic: refused.
	if _, err := connectEmbedded(t, addr, "gw-a-will", brokerLogin{gwA.user, gwA.pass, "boilerwatch/v1/invented/gw-01/status"}); err == nil {
		t.Error("gateway plant-a/gw-01 connected with a last will on an invented site's status")
	}

	// Reading: a gateway may not subscribe to everything, or to another
	// gateway's config, or to telemetry.
	a, err := connectEmbedded(t, addr, "gw-a-reader", gwA)
	if err != nil {
		t.Fatalf("gateway plant-a/gw-01 with its password: %v", err)
	}
	leaked := make(chan string, 64)
	for _, f := range []string{"boilerwatch/#", "#", "boilerwatch/v1/plant-b/gw-01/config", "boilerwatch/v1/+/+/telemetry", "$share/g/boilerwatch/v1/+/+/telemetry", "$SYS/#"} {
		if subscribeGranted(t, a, f, func(_ mqtt.Client, m mqtt.Message) { leaked <- m.Topic() }) {
			t.Errorf("gateway plant-a/gw-01 may subscribe to %s", f)
		}
		if !a.IsConnectionOpen() {
			a, _ = connectEmbedded(t, addr, "gw-a-reader", gwA)
		}
	}
	if !subscribeGranted(t, a, "boilerwatch/v1/plant-a/gw-01/config", nil) {
		t.Error("gateway plant-a/gw-01 may not subscribe to its own config")
	}

	// Writing: plant-a/gw-01 tries to get a value into plant-b by every
	// topic, and to leave retained statuses for others.
	forged := []string{
		"boilerwatch/v1/plant-b/gw-01/telemetry",
		"boilerwatch/v1/plant-b/gw-02/telemetry",
		"boilerwatch/v1/plant-b/plant-a/gw-01/telemetry",
		"boilerwatch/v1/plant-a/gw-01/telemetry/x",
		"boilerwatch/v1/invented/gw-01/status",
		"boilerwatch/v1/plant-b/gw-01/status",
		"boilerwatch/v1/plant-b/gw-01/config",
		"boilerwatch/v1/plant-a/gw-01/config",
		"boilerwatch/v1/collectors/heartbeat",
		"boilerwatch/v1/plant-b/alerts",
	}
	for i, topic := range forged {
		c, err := connectEmbedded(t, addr, fmt.Sprintf("gw-a-forger-%d", i), gwA)
		if err != nil {
			t.Fatal(err)
		}
		retained := strings.HasSuffix(topic, "/status") || strings.HasSuffix(topic, "/config")
		c.Publish(topic, 1, retained, steamSample("plant-b", "gw-01", uint64(i+1), 666)).WaitTimeout(3 * time.Second)
	}
	// The payload names plant-b, the topic is plant-a's own: the collector
	// refuses the mismatch (ingest), and nothing reaches plant-b.
	if c, err := connectEmbedded(t, addr, "gw-a-payload", gwA); err == nil {
		c.Publish(telemetry.SamplesTopic("plant-a", "gw-01"), 1, false, steamSample("plant-b", "gw-01", 100, 666)).WaitTimeout(3 * time.Second)
	}

	// The operator sees statuses: none was left for an invented site or
	// for plant-b by plant-a's gateway.
	op, err := connectEmbedded(t, addr, "operator", operator)
	if err != nil {
		t.Fatalf("operator with its password: %v", err)
	}
	statuses := make(chan string, 16)
	if !subscribeGranted(t, op, "boilerwatch/v1/+/+/status", func(_ mqtt.Client, m mqtt.Message) { statuses <- m.Topic() }) {
		t.Fatal("the operator may not read statuses")
	}
	if subscribeGranted(t, op, "boilerwatch/v1/+/+/telemetry", nil) {
		t.Error("the operator may read telemetry")
	}

	// A 32 MB publish on the gateway's own topic: the broker refuses it
	// from its fixed header and the collector's memory stays flat.
	before, err := servicetest.ProcStatus(col.Pid())
	if err != nil {
		t.Fatal(err)
	}
	if big, err := connectEmbedded(t, addr, "gw-a-big", gwA); err == nil {
		big.Publish(telemetry.SamplesTopic("plant-a", "gw-01"), 1, false, make([]byte, 32<<20)).WaitTimeout(10 * time.Second)
		time.Sleep(time.Second)
		if big.IsConnectionOpen() {
			t.Error("the broker kept the connection of a 32 MB publish open")
		}
	}
	time.Sleep(time.Second)
	after, err := servicetest.ProcStatus(col.Pid())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("collector RSS %.1f MB before the 32 MB publish, %.1f MB after (peak %.1f MB)",
		float64(before["VmRSS"])/1e6, float64(after["VmRSS"])/1e6, float64(after["VmHWM"])/1e6)
	if grow := after["VmHWM"] - before["VmHWM"]; grow > 16<<20 {
		t.Errorf("a 32 MB publish grew the collector's peak RSS by %.1f MB", float64(grow)/1e6)
	}
	if !col.Running() {
		t.Fatalf("the collector stopped:\n%s", col.LogText())
	}

	// Honest gateways: their values arrive, exactly, under their site.
	for _, g := range []struct {
		l          brokerLogin
		site       string
		v          float64
		willStatus bool
	}{{gwA, "plant-a", 7.25, true}, {gwB, "plant-b", 8.5, true}} {
		l := g.l
		l.will = telemetry.StatusTopic(g.site, "gw-01")
		c, err := connectEmbedded(t, addr, "honest-"+g.site, l)
		if err != nil {
			t.Fatalf("%s: %v", g.l.user, err)
		}
		if tok := c.Publish(telemetry.StatusTopic(g.site, "gw-01"), 1, true, []byte(`{"state":"online"}`)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("%s status: %v", g.l.user, tok.Error())
		}
		if tok := c.Publish(telemetry.SamplesTopic(g.site, "gw-01"), 1, false, steamSample(g.site, "gw-01", 1, g.v)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("%s telemetry: %v", g.l.user, tok.Error())
		}
	}
	st := store.Open(store.Config{URL: in.URL, Bucket: in.Bucket})
	defer st.Close()
	flux := fmt.Sprintf(`from(bucket: %s) |> range(start: 0) |> filter(fn: (r) => %s)`, store.FluxString(in.Bucket), store.Eq("_field", "steam_flow"))
	want := "plant-a/gw-01=7.25 plant-b/gw-01=8.5"
	var got string
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err := st.Query(context.Background(), flux)
		if err != nil {
			t.Fatal(err)
		}
		var rows []string
		for res.Next() {
			r := res.Record()
			rows = append(rows, fmt.Sprintf("%v/%v=%v", r.ValueByKey("site"), r.ValueByKey("gateway"), r.Value()))
		}
		res.Close()
		sort.Strings(rows)
		got = strings.Join(rows, " ")
		if got == want || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // anything forged would have been written by now
	if got != want {
		t.Errorf("InfluxDB holds steam_flow %q, want %q", got, want)
	}
	sts := drain(statuses)
	if strings.Join(sts, " ") != "boilerwatch/v1/plant-a/gw-01/status boilerwatch/v1/plant-b/gw-01/status" {
		t.Errorf("the operator saw statuses %v, want only the honest gateways' own", sts)
	}
	if l := drain(leaked); len(l) > 0 {
		t.Errorf("gateway plant-a/gw-01 read %v", l)
	}
	if !col.Running() {
		t.Fatalf("the collector stopped:\n%s", col.LogText())
	}
}

// drain returns what ch holds now, sorted.
func drain(ch chan string) []string {
	var out []string
	for {
		select {
		case s := <-ch:
			out = append(out, s)
		default:
			sort.Strings(out)
			return out
		}
	}
}
