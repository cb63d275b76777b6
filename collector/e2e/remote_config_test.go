package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// watcher records what a gateway publishes: telemetry seqs per device,
// config acks, statuses.
type watcher struct {
	mu       sync.Mutex
	seqs     map[uint64]bool
	devices  map[string]int // samples per device
	acks     []telemetry.ConfigAck
	statuses []telemetry.Status
}

func (w *watcher) snapshot() (map[uint64]bool, map[string]int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	seqs := make(map[uint64]bool, len(w.seqs))
	for k := range w.seqs {
		seqs[k] = true
	}
	devs := map[string]int{}
	for k, v := range w.devices {
		devs[k] = v
	}
	return seqs, devs
}

// mark is the number of acks so far, for waitAck.
func (w *watcher) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acks)
}

// waitAck waits for an ack of version with the given status, among the
// acks after mark.
func (w *watcher) waitAck(t *testing.T, mark, version int, status string, timeout time.Duration) telemetry.ConfigAck {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for _, a := range w.acks[mark:] {
			if a.Version == version && a.Status == status {
				w.mu.Unlock()
				return a
			}
		}
		w.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Fatalf("no %s ack for version %d within %s; acks: %+v", status, version, timeout, w.acks)
	return telemetry.ConfigAck{}
}

// waitDevice waits until n more samples of dev arrived.
func (w *watcher) waitDevice(t *testing.T, dev string, n int, timeout time.Duration) {
	t.Helper()
	_, before := w.snapshot()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, now := w.snapshot(); now[dev] >= before[dev]+n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("fewer than %d new samples of %s within %s", n, dev, timeout)
}

func (w *watcher) lastStatus() telemetry.Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.statuses) == 0 {
		return telemetry.Status{}
	}
	return w.statuses[len(w.statuses)-1]
}

func watch(t *testing.T, broker, gw string) (*watcher, mqtt.Client) {
	t.Helper()
	w := &watcher{seqs: map[uint64]bool{}, devices: map[string]int{}}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("remote-watcher"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	subs := map[string]mqtt.MessageHandler{
		telemetry.SamplesTopic(site, gw): func(_ mqtt.Client, m mqtt.Message) {
			var msg telemetry.Message
			if err := json.Unmarshal(m.Payload(), &msg); err != nil {
				t.Errorf("telemetry %q: %v", m.Payload(), err)
				return
			}
			w.mu.Lock()
			w.seqs[msg.Seq] = true
			for _, s := range msg.Samples {
				w.devices[s.Device]++
			}
			w.mu.Unlock()
		},
		telemetry.ConfigAckTopic(site, gw): func(_ mqtt.Client, m mqtt.Message) {
			var a telemetry.ConfigAck
			if err := json.Unmarshal(m.Payload(), &a); err != nil {
				t.Errorf("ack %q: %v", m.Payload(), err)
				return
			}
			w.mu.Lock()
			w.acks = append(w.acks, a)
			w.mu.Unlock()
		},
		telemetry.StatusTopic(site, gw): func(_ mqtt.Client, m mqtt.Message) {
			var st telemetry.Status
			if json.Unmarshal(m.Payload(), &st) == nil {
				w.mu.Lock()
				w.statuses = append(w.statuses, st)
				w.mu.Unlock()
			}
		},
	}
	for topic, h := range subs {
		if tok := c.Subscribe(topic, 1, h); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", topic, tok.Error())
		}
	}
	return w, c
}

// signRaw signs data as fwconfig.Sign would, without validating it, so
// the gateway's own validation can be tested.
func signRaw(t *testing.T, keyFile, gw string, version int, data []byte) []byte {
	t.Helper()
	key, err := fwconfig.LoadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := fwconfig.Signed{Site: site, Gateway: gw, Version: version, Config: data}
	sum := sha256.Sum256(data)
	s.Signature = ed25519.Sign(key, fmt.Appendf(nil, "boilerwatch-config-v1\x00%s\x00%s\x00%d\x00%x", site, gw, version, sum))
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRemoteConfig pushes signed configs to a running gateway through
// Mosquitto with the fwconfig binary, and checks each verdict and that the
// gateway keeps its queue, its seq and its MQTT session throughout.
func TestRemoteConfig(t *testing.T) {
	t.Parallel()
	bins := servicetest.Build(t, "simulator/cmd/simulator", "gateway/cmd/gateway", "firmware-config/cmd/fwconfig")
	mq := servicetest.StartMosquitto(t, "")
	dir := t.TempDir()
	simAddr := freeAddr(t)
	deadAddr := freeAddr(t) // nothing listens
	startSim(t, bins["simulator"], filepath.Join(dir, "scenario.yaml"), scenarioConfig{listen: simAddr})

	fw := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bins["fwconfig"], args...)
		out, err := cmd.CombinedOutput()
		code := 0
		if err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatalf("fwconfig %v: %v", args, err)
			}
			code = ee.ExitCode()
		}
		return string(out), code
	}
	for _, k := range []string{"operator.key", "other.key"} {
		if out, code := fw("keygen", "-out", filepath.Join(dir, k)); code != 0 {
			t.Fatalf("keygen: %s", out)
		}
	}
	const gw = "gw-a"
	config := func(version int, gateway string, devices ...string) string {
		return gatewayConfig{version: version, site: site, id: gateway, broker: mq.URL, queueDir: filepath.Join(dir, "queue"),
			queue: "wait_for_collector: false", extra: "remote_config: {public_key: operator.key.pub, rollback_after: 3s}\n", devices: devices}.yaml()
	}
	boiler := gwBoiler(simAddr, time.Second)
	meter := gwMeter(simAddr, 500*time.Millisecond)
	gwFile := write(t, filepath.Join(dir, "gateway.yaml"), config(1, gw, boiler))
	// The config may hold secrets' names and addresses: a push must keep
	// the mode the operator gave it, and the .prev copy must not widen it.
	if err := os.Chmod(gwFile, 0o640); err != nil {
		t.Fatal(err)
	}
	checkModes := func(t *testing.T) {
		t.Helper()
		for _, f := range []string{gwFile, gwFile + ".prev"} {
			if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o640 {
				t.Errorf("%s: %v, %v; want mode 0640 as the operator set it", f, st.Mode(), err)
			}
		}
	}
	// The signed copy of v1 is for the replay below.
	sign := func(name, content, key string) string {
		t.Helper()
		yamlFile := write(t, filepath.Join(dir, name+".yaml"), content)
		signed := filepath.Join(dir, name+".json")
		if out, code := fw("sign", "-key", filepath.Join(dir, key), "-out", signed, yamlFile); code != 0 {
			t.Fatalf("sign %s: %s", name, out)
		}
		return signed
	}
	v1 := sign("v1", config(1, gw, boiler), "operator.key")

	w, client := watch(t, mq.URL, gw)
	gateway := servicetest.StartProcess(t, bins["gateway"], "-config", gwFile, "-log-level", "debug")
	w.waitDevice(t, "boiler1", 2, 20*time.Second)
	push := func(signed string) (string, int) {
		t.Helper()
		return fw("push", "-broker", mq.URL, "-wait", "20s", signed)
	}
	fileVersion := func() int {
		t.Helper()
		g, err := fwconfig.LoadGateway(gwFile)
		if err != nil {
			t.Fatal(err)
		}
		return g.Version
	}

	t.Run("applied", func(t *testing.T) {
		v2 := sign("v2", config(2, gw, boiler, meter), "operator.key")
		start := time.Now()
		out, code := push(v2)
		if code != 0 || !strings.Contains(out, "applied") {
			t.Fatalf("push v2: exit %d, %s", code, out)
		}
		t.Logf("applied in %s", time.Since(start).Round(time.Millisecond))
		if v := fileVersion(); v != 2 {
			t.Errorf("config file has version %d after apply, want 2", v)
		}
		if prev, err := os.ReadFile(gwFile + ".prev"); err != nil || !bytes.Contains(prev, []byte("version: 1\n")) {
			t.Errorf("%s.prev: %v, %q; want the version 1 config", gwFile, err, prev)
		}
		checkModes(t)
		w.waitDevice(t, "meter1", 3, 20*time.Second) // the added device
		w.waitDevice(t, "boiler1", 2, 20*time.Second)
		deadline := time.Now().Add(10 * time.Second)
		for w.lastStatus().ConfigVersion != "2" && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if cv := w.lastStatus().ConfigVersion; cv != "2" {
			t.Errorf("status config_version %q, want 2", cv)
		}
	})

	rejected := []struct {
		name    string
		publish func() (string, int) // how the config gets to gw-a's topic
		version int
		reason  string
	}{
		{"replayed old config", func() (string, int) { return push(v1) }, 1, "not newer"},
		{"config for another gateway", func() (string, int) {
			// Signed for gw-b, but put on gw-a's topic: fwconfig push would
			// use gw-b's topic, so publish by hand.
			payload, err := os.ReadFile(sign("for-b", config(3, "gw-b", boiler), "operator.key"))
			if err != nil {
				t.Fatal(err)
			}
			tok := client.Publish(telemetry.ConfigTopic(site, gw), 1, false, payload)
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
			return "", 1
		}, 3, "another gateway"},
		{"bad signature", func() (string, int) { return push(sign("other-key", config(3, gw, boiler), "other.key")) }, 3, "signature does not verify"},
		{"invalid config", func() (string, int) {
			bad := strings.Replace(config(3, gw, boiler), "szl-chain-grate-plc", "no-such-profile", 1)
			signed := write(t, filepath.Join(dir, "invalid.json"), string(signRaw(t, filepath.Join(dir, "operator.key"), gw, 3, []byte(bad))))
			return push(signed)
		}, 3, `unknown profile "no-such-profile"`},
	}
	for _, tc := range rejected {
		t.Run(tc.name, func(t *testing.T) {
			mark := w.mark()
			out, code := tc.publish()
			if code != 1 {
				t.Errorf("push: exit %d, want 1; %s", code, out)
			}
			a := w.waitAck(t, mark, tc.version, telemetry.ConfigRejected, 20*time.Second)
			if !strings.Contains(a.Reason, tc.reason) || a.Running != 2 {
				t.Errorf("ack %+v: want reason containing %q, running 2", a, tc.reason)
			}
			if v := fileVersion(); v != 2 {
				t.Errorf("config file has version %d, want 2 untouched", v)
			}
		})
	}

	dead := gwDevice("boiler1", "szl-chain-grate-plc", deadAddr, 1, time.Second, "timeout: 200ms")
	v3 := sign("v3-dead", config(3, gw, dead), "operator.key")
	t.Run("rolled back", func(t *testing.T) {
		mark := w.mark()
		if out, code := push(v3); code != 0 {
			t.Fatalf("push v3: exit %d, %s (the gateway applies it, then rolls it back)", code, out)
		}
		applied := time.Now()
		a := w.waitAck(t, mark, 3, telemetry.ConfigRolledBack, 20*time.Second)
		took := time.Since(applied)
		t.Logf("rolled back after %s", took.Round(time.Millisecond))
		if a.Running != 2 || took < 2*time.Second {
			t.Errorf("ack %+v after %s: want running 2, after rollback_after (3s)", a, took)
		}
		if v := fileVersion(); v != 2 {
			t.Errorf("config file has version %d after rollback, want 2", v)
		}
		w.waitDevice(t, "meter1", 3, 20*time.Second) // v2's devices poll again
	})

	// Each replay of a rolled-back version would be a polling outage until
	// the next rollback: it is refused however it comes back.
	publishRaw := func(edit func(string) string) func() (string, int) {
		return func() (string, int) {
			payload, err := os.ReadFile(v3)
			if err != nil {
				t.Fatal(err)
			}
			tok := client.Publish(telemetry.ConfigTopic(site, gw), 1, false, edit(string(payload)))
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
			return "", 1
		}
	}
	replays := []struct {
		name    string
		publish func() (string, int)
		reason  string
	}{
		{"rolled-back config respelt", publishRaw(func(s string) string { return strings.Replace(s, `,"gateway"`, `, "gateway"`, 1) }), "canonical"},
		{"rolled-back config with an unsigned key", publishRaw(func(s string) string { return `{"nonce":1,` + s[1:] }), `unsigned key "nonce"`},
		{"rolled-back version signed again", func() (string, int) {
			return push(sign("v3-again", config(3, gw, boiler, meter), "operator.key"))
		}, "version 3 was rolled back"},
		// Last, so that it is the retained config at the restart below.
		{"rolled-back config pushed again", func() (string, int) { return push(v3) }, "version 3 was rolled back"},
	}
	for _, tc := range replays {
		t.Run(tc.name, func(t *testing.T) {
			mark := w.mark()
			if out, code := tc.publish(); code != 1 {
				t.Errorf("push: exit %d, want 1; %s", code, out)
			}
			a := w.waitAck(t, mark, 3, telemetry.ConfigRejected, 20*time.Second)
			if !strings.Contains(a.Reason, tc.reason) || a.Running != 2 {
				t.Errorf("ack %+v: want reason containing %q, running 2", a, tc.reason)
			}
			if v := fileVersion(); v != 2 {
				t.Errorf("config file has version %d, want 2", v)
			}
			checkModes(t)
		})
	}

	// Nothing the pushes did cost a sample or the session: every seq from
	// the first one seen to the last arrived, and one connect in the log.
	seqs, _ := w.snapshot()
	lo, hi := ^uint64(0), uint64(0)
	for s := range seqs {
		lo, hi = min(lo, s), max(hi, s)
	}
	if missing := int(hi-lo+1) - len(seqs); missing != 0 {
		t.Errorf("seq %d..%d: %d missing", lo, hi, missing)
	}
	if n := strings.Count(gateway.LogText(), "mqtt connected"); n != 1 {
		t.Errorf("gateway connected %d times, want 1 (the session must survive the pushes)", n)
	}

	// The rolled-back version 3 is still retained on the broker, and a
	// restarted gateway gets it at connect: the refusal was persisted.
	t.Run("restart", func(t *testing.T) {
		gateway.Stop(10 * time.Second)
		mark := w.mark()
		// The log goes on from the first run: wait for this run's line.
		ignored := strings.Count(gateway.LogText(), "retained config ignored")
		if err := gateway.Start(); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, func() string {
			if strings.Count(gateway.LogText(), "retained config ignored") <= ignored {
				return "the restarted gateway did not log that it ignored the retained version 3"
			}
			return ""
		})
		w.waitDevice(t, "meter1", 3, 20*time.Second) // v2 runs
		w.mu.Lock()
		for _, a := range w.acks[mark:] {
			if a.Version == 3 && a.Status != telemetry.ConfigRejected {
				t.Errorf("after the restart: %+v; version 3 was rolled back before", a)
			}
		}
		w.mu.Unlock()
		if v := fileVersion(); v != 2 {
			t.Errorf("config file has version %d after the restart, want 2", v)
		}
		// A higher version still applies.
		v4 := sign("v4", config(4, gw, boiler, meter), "operator.key")
		if out, code := push(v4); code != 0 || !strings.Contains(out, "applied") {
			t.Fatalf("push v4 after the restart: exit %d, %s", code, out)
		}
		if v := fileVersion(); v != 4 {
			t.Errorf("config file has version %d after apply, want 4", v)
		}
		checkModes(t)
	})
	gateway.Stop(10 * time.Second)
	if t.Failed() {
		t.Logf("gateway log:\n%s", gateway.LogText())
	}
}
