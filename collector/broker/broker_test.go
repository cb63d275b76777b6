package broker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/console/password"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// The embedded broker enforces the very file shipped for Mosquitto.
func TestShippedACLIsDeployed(t *testing.T) {
	t.Parallel()
	deployed, err := os.ReadFile(filepath.Join("..", "..", "deploy", "mosquitto", "boilerwatch.acl"))
	if err != nil {
		t.Fatal(err)
	}
	if string(deployed) != shippedACL {
		t.Fatal("collector/broker/boilerwatch.acl differs from deploy/mosquitto/boilerwatch.acl: copy the deployed file here")
	}
	if _, err := parseACL(shippedACL); err != nil {
		t.Fatal(err)
	}
}

func TestParseACLRefuses(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"topic read a/#\n", "user x\ntopic sometimes a\n", "user x\nauth_plugin y\n"} {
		if _, err := parseACL(text); err == nil {
			t.Errorf("parseACL(%q) accepted it", text)
		}
	}
}

func TestCovers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, filter string
		want            bool
	}{
		{"a/b", "a/b", true}, {"a/b", "a/c", false}, {"a/b", "a/b/c", false}, {"a/b/c", "a/b", false},
		{"a/+", "a/b", true}, {"a/+", "a/+", true}, {"a/+", "a/#", false}, {"a/b", "a/+", false},
		{"a/#", "a", true}, {"a/#", "a/b/c", true}, {"a/#", "a/#", true}, {"a/#", "#", false}, {"a/#", "+/b", false},
		{"#", "$SYS/x", false}, {"+/x", "$SYS/x", false}, {"a/+/c", "a/b/#", false}, {"a/+/c", "a//c", true},
	} {
		if got := covers(tc.pattern, tc.filter); got != tc.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tc.pattern, tc.filter, got, tc.want)
		}
	}
}

// TestACL is the shipped ACL as the embedded broker applies it, one line
// per question: role, username, access, topic or filter → allowed.
func TestACL(t *testing.T) {
	t.Parallel()
	a, err := parseACL(shippedACL)
	if err != nil {
		t.Fatal(err)
	}
	const table = `
gateway   plant-a/gw-01 write boilerwatch/v1/plant-a/gw-01/telemetry   yes
gateway   plant-a/gw-01 write boilerwatch/v1/plant-a/gw-01/status      yes
gateway   plant-a/gw-01 write boilerwatch/v1/plant-a/gw-01/config/ack  yes
gateway   plant-a/gw-01 read  boilerwatch/v1/plant-a/gw-01/config      yes
gateway   plant-a/gw-01 read  boilerwatch/v1/collectors/heartbeat      yes
gateway   plant-a/gw-01 write boilerwatch/v1/plant-b/gw-01/telemetry   no
gateway   plant-a/gw-01 write boilerwatch/v1/plant-a/gw-02/telemetry   no
gateway   plant-a/gw-01 write boilerwatch/v1/invented/gw-01/status     no
gateway   plant-a/gw-01 write boilerwatch/v1/plant-a/gw-01/config      no
gateway   plant-a/gw-01 write boilerwatch/v1/plant-a/gw-01/telemetry/x no
gateway   plant-a/gw-01 write boilerwatch/v1/collectors/heartbeat      no
gateway   plant-a/gw-01 write boilerwatch/v1/plant-a/alerts            no
gateway   plant-a/gw-01 read  boilerwatch/v1/plant-a/gw-01/telemetry   no
gateway   plant-a/gw-01 read  boilerwatch/v1/plant-b/gw-01/config      no
gateway   plant-a/gw-01 read  boilerwatch/v1/plant-a/+/config          no
gateway   plant-a/gw-01 read  boilerwatch/v1/+/gw-01/config            no
gateway   plant-a/gw-01 read  boilerwatch/#                            no
gateway   plant-a/gw-01 read  #                                        no
gateway   plant-a/gw-01 read  $share/g/boilerwatch/v1/+/+/telemetry    no
gateway   plant-a/gw-01 read  $SYS/#                                   no
gateway   plant-a/+     write boilerwatch/v1/plant-a/x/telemetry       no
gateway   plant-a/#     write boilerwatch/v1/plant-a/x/telemetry       no
collector $collector    read  boilerwatch/v1/+/+/telemetry             yes
collector $collector    read  $share/bw/boilerwatch/v1/+/+/telemetry   yes
collector $collector    read  $SHARE/bw/boilerwatch/v1/+/+/telemetry   yes
collector $collector    read  boilerwatch/v1/+/+/status                yes
collector $collector    read  boilerwatch/v1/plant-a/gw-01/telemetry   yes
collector $collector    write boilerwatch/v1/collectors/heartbeat      yes
collector $collector    write boilerwatch/v1/plant-a/alerts            yes
collector $collector    write boilerwatch/v1/collectors/presence/c-1   yes
collector $collector    read  boilerwatch/v1/collectors/presence/+     yes
gateway   plant-a/gw-01 write boilerwatch/v1/collectors/presence/c-1   no
gateway   plant-a/gw-01 read  boilerwatch/v1/collectors/presence/+     no
operator  pusher        write boilerwatch/v1/collectors/presence/c-1   no
collector $collector    write boilerwatch/v1/plant-a/gw-01/telemetry   no
collector $collector    write boilerwatch/v1/plant-a/gw-01/config      no
collector $collector    read  #                                        no
collector $collector    read  $SYS/#                                   no
operator  pusher        write boilerwatch/v1/plant-a/gw-01/config      yes
operator  pusher        read  boilerwatch/v1/plant-a/gw-01/config/ack  yes
operator  pusher        read  boilerwatch/v1/+/+/status                yes
operator  pusher        read  boilerwatch/v1/collectors/heartbeat      yes
operator  pusher        read  boilerwatch/v1/+/+/telemetry             no
operator  pusher        write boilerwatch/v1/plant-a/gw-01/telemetry   no
operator  pusher        write boilerwatch/v1/plant-a/gw-01/status      no
operator  pusher        read  boilerwatch/v1/plant-a/gw-01/config      no
gateway   plant-a/gw-01 write                                          no
`
	for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 { // empty topic
			f = []string{f[0], f[1], f[2], "", f[3]}
		}
		got := a.allowed(f[0], f[1], f[3], f[2] == "write")
		if want := f[4] == "yes"; got != want {
			t.Errorf("%s %s %s %q: allowed %v, want %v", f[0], f[1], f[2], f[3], got, want)
		}
	}
}

// startAuth runs the embedded broker as the collector does, with logins.
func startAuth(t *testing.T) (*Broker, *config.Collector) {
	t.Helper()
	hash := func(pw string) string {
		h, err := password.Hash(pw, password.MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	cfg, err := config.Parse("c.yaml", []byte(fmt.Sprintf(`mqtt:
  embedded: "127.0.0.1:0"
  embedded_users: [{username: pusher, role: operator, password_hash: "%s"}]
gateways:
  - {site: plant-a, gateway: gw-01, password_hash: "%s"}
influxdb: {url: "http://127.0.0.1:1", bucket: b}
`, hash("op"), hash("gw"))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	t.Setenv(InternalSecretEnv, "")
	b, err := StartConfig(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, cfg
}

// client is a connected MQTT client; lost is closed when the broker drops it.
type client struct {
	paho.Client
	lost chan struct{}
}

// closed reports whether the broker closes the connection within 5 s.
func (c client) closed() bool {
	select {
	case <-c.lost:
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}

func dial(t *testing.T, b *Broker, id, user, pw string, will string) (client, error) {
	t.Helper()
	lost := make(chan struct{})
	o := paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID(id).SetUsername(user).SetPassword(pw).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetConnectionLostHandler(func(paho.Client, error) { close(lost) })
	if will != "" {
		o.SetWill(will, "offline", 1, true)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return client{}, fmt.Errorf("no CONNACK")
	}
	if tok.Error() != nil {
		return client{}, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return client{Client: c, lost: lost}, nil
}

func TestStartConfigLogins(t *testing.T) {
	// Not parallel: startAuth sets the internal secret's environment variable.
	b, cfg := startAuth(t)
	if !b.Auth() {
		t.Fatal("logins are off")
	}
	// The collector's own clients got the internal login, in memory.
	user, pw := b.CollectorLogin()
	if cfg.MQTT.Username != InternalUser || user != InternalUser || len(pw) < 32 ||
		cfg.MQTT.PasswordEnv != InternalSecretEnv || os.Getenv(InternalSecretEnv) != pw {
		t.Fatalf("internal login not handed to the collector's clients: username %q, password_env %q", cfg.MQTT.Username, cfg.MQTT.PasswordEnv)
	}
	for _, tc := range []struct{ name, user, pw, will string }{
		{"anonymous", "", "", ""},
		{"wrong password", "plant-a/gw-01", "op", ""},
		{"internal user, wrong secret", InternalUser, "x", ""},
		{"internal user, empty secret", InternalUser, "", ""},
		{"unknown", "plant-b/gw-01", "gw", ""},
		{"will for another site", "plant-a/gw-01", "gw", "boilerwatch/v1/plant-b/gw-01/status"},
	} {
		if _, err := dial(t, b, "c-"+strings.ReplaceAll(tc.name, " ", "-"), tc.user, tc.pw, tc.will); err == nil {
			t.Errorf("%s: let in", tc.name)
		}
	}
	if b.Refused() < 6 {
		t.Errorf("Refused() = %d, want ≥ 6", b.Refused())
	}

	col, err := dial(t, b, "bw-collector", user, pw, "")
	if err != nil {
		t.Fatalf("internal login: %v", err)
	}
	got := make(chan paho.Message, 4)
	if tok := col.Subscribe(telemetry.SamplesFilter, 1, func(_ paho.Client, m paho.Message) { got <- m }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	// A gateway may not take over the collector's session by its id.
	if _, err := dial(t, b, "bw-collector", "plant-a/gw-01", "gw", ""); err == nil {
		t.Error("a gateway took over the collector's client id")
	}
	gw, err := dial(t, b, "gw-01", "plant-a/gw-01", "gw", telemetry.StatusTopic("plant-a", "gw-01"))
	if err != nil {
		t.Fatalf("gateway with its password and own will: %v", err)
	}
	// The largest payload the decoder takes passes; one byte more than
	// the packet limit closes the connection.
	if tok := gw.Publish(telemetry.SamplesTopic("plant-a", "gw-01"), 1, false, make([]byte, telemetry.MaxPayload)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish of MaxPayload bytes: %v", tok.Error())
	}
	select {
	case m := <-got:
		if len(m.Payload()) != telemetry.MaxPayload {
			t.Errorf("collector got %d bytes", len(m.Payload()))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the collector did not get the gateway's telemetry")
	}
	gw.Publish(telemetry.SamplesTopic("plant-a", "gw-01"), 1, false, make([]byte, MaxPacketSize)).WaitTimeout(5 * time.Second)
	if !gw.closed() {
		t.Error("a packet over MaxPacketSize left the connection open")
	}
	select {
	case <-got:
		t.Error("the oversize packet was delivered")
	case <-time.After(500 * time.Millisecond):
	}
	// A forged topic: refused (the v3.1.1 client is disconnected).
	gw2, err := dial(t, b, "gw-01b", "plant-a/gw-01", "gw", "")
	if err != nil {
		t.Fatal(err)
	}
	gw2.Publish(telemetry.SamplesTopic("plant-b", "gw-01"), 1, false, []byte("{}")).WaitTimeout(2 * time.Second)
	select {
	case m := <-got:
		t.Errorf("forged publish delivered on %s", m.Topic())
	case <-time.After(500 * time.Millisecond):
	}
	if b.Denied() == 0 {
		t.Error("Denied() = 0 after a forged publish")
	}
}

// Without logins (loopback, make demo) anyone may connect, but the packet
// limit still holds.
func TestStartOpen(t *testing.T) {
	t.Parallel()
	b := startOpen(t)
	if b.Auth() {
		t.Fatal("Start has logins")
	}
	c, err := dial(t, b, "anon", "", "", "")
	if err != nil {
		t.Fatalf("anonymous client on the open broker: %v", err)
	}
	c.Publish("boilerwatch/v1/a/b/telemetry", 1, false, make([]byte, MaxPacketSize)).WaitTimeout(5 * time.Second)
	if !c.closed() {
		t.Error("a packet over MaxPacketSize left the connection open")
	}
}

// startOpen starts a broker without logins for the test's lifetime.
func startOpen(t *testing.T) *Broker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b, err := Start(ctx, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// received is the set of message numbers (payloads) consumers got.
type received struct {
	mu   sync.Mutex
	seen map[int]bool
}

func (r *received) add(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[int]bool{}
	}
	r.seen[n] = true
}

// await waits up to d for every number of want and returns, in order,
// those that never arrived.
func (r *received) await(want []int, d time.Duration) []int {
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		r.mu.Lock()
		var missing []int
		for _, n := range want {
			if !r.seen[n] {
				missing = append(missing, n)
			}
		}
		r.mu.Unlock()
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing
		}
	}
}

// consume connects a consumer of topic on the persistent session "consumer",
// as the collector's ingest does: every message's number (its payload) goes
// to got; with ack false it acknowledges none.
func consume(t *testing.T, b *Broker, topic string, ack bool, got func(n int)) paho.Client {
	t.Helper()
	h := func(_ paho.Client, m paho.Message) {
		n, _ := strconv.Atoi(string(m.Payload()))
		got(n)
		if ack {
			m.Ack()
		}
	}
	o := paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("consumer").SetCleanSession(false).
		SetAutoReconnect(false).SetAutoAckDisabled(true).SetConnectTimeout(5 * time.Second).SetDefaultPublishHandler(h)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("consumer: %v", tok.Error())
	}
	if tok := c.Subscribe(topic, 1, h); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("consumer subscribe: %v", tok.Error())
	}
	return c
}
