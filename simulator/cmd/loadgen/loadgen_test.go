package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

func TestMain(m *testing.M) { servicetest.Main(m) }

// TestCollectorConfig: the config written for a fleet is one the collector
// accepts, with every gateway, boiler and meter the load plays.
func TestCollectorConfig(t *testing.T) {
	head := filepath.Join(t.TempDir(), "head.yaml")
	if err := os.WriteFile(head, []byte("mqtt: {broker: \"tcp://127.0.0.1:1\", client_id: c}\ninfluxdb: {url: \"http://127.0.0.1:2\", bucket: b/autogen}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n, perSite int
		engine     bool
		sites      int
	}{
		{23, 10, true, 3},
		{5, 1, true, 5},
		{7, 10, false, 1},
	} {
		t.Run(fmt.Sprintf("%d/%d/%t", tc.n, tc.perSite, tc.engine), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "collector.yaml")
			if err := writeCollectorConfig(path, head, fleet{N: tc.n, PerSite: tc.perSite}, time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC), tc.engine); err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			sites := map[string]bool{}
			for _, g := range c.Gateways {
				sites[g.Site] = true
			}
			if len(c.Gateways) != tc.n || len(sites) != tc.sites {
				t.Errorf("%d gateways at %d sites, want %d at %d", len(c.Gateways), len(sites), tc.n, tc.sites)
			}
			if !tc.engine {
				if c.Energy != nil {
					t.Error("energy section written with the engine off")
				}
				return
			}
			if len(c.Energy.Boilers) != tc.n || len(c.Energy.Meters) != tc.n*metersPerGW {
				t.Errorf("%d boilers, %d meters; want %d, %d", len(c.Energy.Boilers), len(c.Energy.Meters), tc.n, tc.n*metersPerGW)
			}
		})
	}
}

// TestPlay: three gateways against Mosquitto for a few seconds, one of
// them cut off for a while: every message is valid telemetry numbered
// without repeats, the cut-off gateway's last will and new birth arrive,
// and its backlog comes back marked historical with its timestamps.
func TestPlay(t *testing.T) {
	mq := servicetest.StartMosquitto(t, "")
	var mu sync.Mutex
	seqs := map[string][]uint64{}
	states := map[string][]string{}
	var historical, invalid int
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("test-sub").
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			mu.Lock()
			defer mu.Unlock()
			_, gw, kind, err := telemetry.ParseTopic(m.Topic())
			if err != nil {
				return
			}
			switch kind {
			case "telemetry":
				msg, err := telemetry.Decode(m.Payload())
				if err != nil {
					invalid++
					t.Errorf("%s: %v", m.Topic(), err)
					return
				}
				seqs[gw] = append(seqs[gw], msg.Seq)
				if msg.Historical {
					historical++
				}
			case "status":
				var st telemetry.Status
				if err := json.Unmarshal(m.Payload(), &st); err == nil {
					states[gw] = append(states[gw], st.State)
				}
			}
		}))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(100)
	for _, f := range []string{telemetry.SamplesFilter, telemetry.StatusFilter} {
		if tok := sub.Subscribe(f, 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	// A collector's heartbeat, without which the gateways hold back.
	go func() {
		for ctx.Err() == nil {
			sub.Publish(telemetry.HeartbeatTopic, 0, false, `{"collector":"test","ts":1}`)
			time.Sleep(500 * time.Millisecond)
		}
	}()
	p := player{fleet: fleet{N: 3, PerSite: 10}, broker: mq.URL, log: slog.Default(),
		outageShare: 0.34, outageAt: 2 * time.Second, outageFor: 3 * time.Second, probe: 2}
	res, err := p.run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the last acknowledged messages reach the subscriber
	mu.Lock()
	defer mu.Unlock()
	if len(res.Outage) != 1 || res.Outage[0] != "s0001/g00001" || len(res.Probes) != 2 {
		t.Fatalf("outage %v, probes %v; want s0001/g00001 and two probes", res.Outage, res.Probes)
	}
	var got int
	for gw, s := range seqs {
		got += len(s)
		for i := 1; i < len(s); i++ {
			if s[i] <= s[i-1] {
				t.Errorf("%s: seq %d after %d", gw, s[i], s[i-1])
			}
		}
	}
	// 8 s of a boiler a second each, and the first gateway's ten meters
	// (the others' are due later in their 15 s).
	if want := 3*7 + metersPerGW; got < want || int64(got) > res.Published {
		t.Errorf("received %d messages, published %d; want at least %d", got, res.Published, want)
	}
	if st := states["g00001"]; len(st) < 3 || st[0] != "online" || !slices.Contains(st, "offline") || st[len(st)-1] != "online" {
		t.Errorf("cut-off gateway's statuses %v, want online, offline (its will), online", st)
	}
	if historical < 3 || res.Replayed < int64(historical) {
		t.Errorf("%d historical messages received, %d replayed; want the outage's backlog (≥ 3)", historical, res.Replayed)
	}
}
