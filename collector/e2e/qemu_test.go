package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// qemuTargets are the 32-bit edge builds of make release and the
// qemu-user-static emulator that runs each.
var qemuTargets = []struct {
	name, goarch string
	env          []string
	qemu         string
}{
	{"arm", "arm", []string{"GOARM=7"}, "qemu-arm-static"},
	{"mipsle", "mipsle", []string{"GOMIPS=softfloat"}, "qemu-mipsel-static"},
}

// TestCrossBuiltGateway runs the linux/arm (v7) and linux/mipsle
// (softfloat) gateways, built as make release builds them, under
// qemu-user-static: each polls the simulator (a boiler PLC with scaled
// 16-bit and float32 registers, and a DTSU666 meter of float32s) for a few
// seconds and delivers to Mosquitto; a subscriber checks every value
// against what the simulator served, so 32-bit and softfloat breakage is
// caught before a device sees it. BW_QEMU_DIST=DIR runs the binaries of
// DIR (make qemu: dist/ from make release) instead of building them.
func TestCrossBuiltGateway(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds two cross-compiled gateways")
	}
	run := 6 * time.Second
	if v := os.Getenv("BW_QEMU_RUN"); v != "" {
		run = envDuration(t, "BW_QEMU_RUN", run)
	}
	bins := servicetest.Build(t, "simulator/cmd/simulator")
	mq := servicetest.StartMosquitto(t, "")
	for _, tg := range qemuTargets {
		t.Run(tg.name, func(t *testing.T) {
			emu, err := exec.LookPath(tg.qemu)
			if err != nil {
				servicetest.Missing(t, tg.qemu, "apt-get install -y qemu-user-static (or make deps)")
			}
			gwBin := crossGateway(t, tg.goarch, tg.env)
			dir := t.TempDir()
			record := filepath.Join(dir, "served.jsonl")
			simAddr := freeAddr(t)
			sim := startSim(t, bins["simulator"], filepath.Join(dir, "scenario.yaml"), scenarioConfig{listen: simAddr, seed: 5, update: 100 * time.Millisecond,
				devices: []string{simBoiler, simDevice("meter1", 2, "chint-dtsu666", "holes: zero")}}, "-record", record)

			gwID := "gw-qemu-" + tg.name
			lib, err := profile.LoadLibrary()
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var got []sample
			sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("qemu-sub-" + tg.name))
			if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("subscriber: %v", tok.Error())
			}
			defer sub.Disconnect(100)
			if tok := sub.Subscribe(telemetry.SamplesTopic(site, gwID), 1, func(_ mqtt.Client, m mqtt.Message) {
				var msg telemetry.Message
				if err := json.Unmarshal(m.Payload(), &msg); err != nil {
					t.Errorf("message: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, s := range msg.Samples {
					fields := map[string]any{}
					for k, v := range s.Values {
						fields[k] = v.Any()
					}
					class := ""
					if p := lib[s.Profile]; p != nil {
						class = p.Class
					}
					got = append(got, sample{measurement: class, device: s.Device, ts: time.UnixMilli(s.TS), fields: fields})
				}
			}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}

			cfg := write(t, filepath.Join(dir, "gateway.yaml"), gatewayConfig{site: site, id: gwID, broker: mq.URL, queueDir: filepath.Join(dir, "queue"),
				queue: "wait_for_collector: false", devices: gwDevices(simAddr, time.Second)}.yaml())
			gw := servicetest.StartProcess(t, emu, gwBin, "-config", cfg, "-drain", "20s")
			time.Sleep(run)
			gw.Stop(30 * time.Second)
			sim.Stop(10 * time.Second)
			time.Sleep(300 * time.Millisecond)
			if !strings.Contains(gw.LogText(), "unsent=0") {
				t.Errorf("gateway under %s stopped with records unsent:\n%s", tg.qemu, tail(gw.LogText(), 3000))
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) < int(run.Seconds()) {
				t.Fatalf("%d samples from the %s gateway in %s, want about %d:\n%s", len(got), tg.name, run, 2*int(run.Seconds()), tail(gw.LogText(), 3000))
			}
			compareWithServed(t, record, got)
			t.Logf("%s gateway under %s: %d samples, every value as the simulator served it", tg.name, tg.qemu, len(got))
		})
	}
}

// crossGateway returns the gateway for linux/goarch: from BW_QEMU_DIST,
// or built with the flags of make release.
func crossGateway(t *testing.T, goarch string, env []string) string {
	t.Helper()
	if dist := os.Getenv("BW_QEMU_DIST"); dist != "" {
		p := filepath.Join(dist, "gateway-linux-"+goarch)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("BW_QEMU_DIST: %v (run make release)", err)
		}
		return p
	}
	out := filepath.Join(t.TempDir(), "gateway-linux-"+goarch)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./gateway/cmd/gateway")
	cmd.Dir = servicetest.RepoRoot(t)
	cmd.Env = append(append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0"), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build linux/%s: %v\n%s", goarch, err, stderr.String())
	}
	return out
}
