package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/gateway/queue"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
	"github.com/boilerwatch/boilerwatch/simulator/sim"
)

// killWindow is the write-behind window of the kill test's gateway.
const killWindow = time.Second

// killSlack allows for scheduling between the simulator answering a read
// and the gateway queueing the sample, on a loaded test machine.
const killSlack = 250 * time.Millisecond

// TestGatewayKill9LossWindow measures what write-behind loses: a gateway
// polling 6 simulated meters every second (write_behind: 1s) is killed
// with SIGKILL at random moments, while Mosquitto is up and acknowledging
// and, in two rounds, a few seconds into a broker outage. After each kill
// the test reads the queue directory as the next start finds it, then
// restarts the gateway. At the end, what a subscriber received plus what
// the queue held must contain every read the simulator served, except
// those served less than one window (plus killSlack) before a kill, or
// during the final stop. The reads lost inside the window are counted and
// printed.
func TestGatewayKill9LossWindow(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs for about a minute")
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 19))
	t.Logf("random seed %d", seed)
	bins := servicetest.Build(t, "simulator/cmd/simulator", "gateway/cmd/gateway")
	mq := servicetest.StartMosquitto(t, "persistence true\npersistence_location {{dir}}/\n")
	dir := t.TempDir()
	qdir := filepath.Join(dir, "queue")
	record := filepath.Join(dir, "served.jsonl")

	simAddr := freeAddr(t)
	simDevs, gwDevs := meters(6, simAddr)
	simProc := startSim(t, bins["simulator"], filepath.Join(dir, "scenario.yaml"), scenarioConfig{listen: simAddr, update: 200 * time.Millisecond, devices: simDevs}, "-record", record)

	// What the broker delivered: a persistent QoS 1 session, so nothing
	// published while it reconnects after a broker restart is missed.
	type key struct {
		device string
		ts     int64
	}
	var mu sync.Mutex
	delivered := map[key]bool{}
	topic := telemetry.SamplesTopic(site, "gw-kill")
	opts := mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("kill-sub").SetCleanSession(false).
		SetAutoReconnect(true).SetMaxReconnectInterval(500 * time.Millisecond).SetConnectRetry(true)
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
			var msg telemetry.Message
			if json.Unmarshal(m.Payload(), &msg) != nil {
				return
			}
			mu.Lock()
			for _, s := range msg.Samples {
				delivered[key{s.Device, s.TS}] = true
			}
			mu.Unlock()
		})
	})
	sub := mqtt.NewClient(opts)
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(100) })
	time.Sleep(300 * time.Millisecond) // the subscription is in place

	cfg := write(t, filepath.Join(dir, "gateway.yaml"), gatewayConfig{site: site, id: "gw-kill", broker: mq.URL, mqtt: "keepalive: 5s",
		queueDir: qdir, queue: fmt.Sprintf("wait_for_collector: false, write_behind: %s", killWindow), devices: gwDevs}.yaml())
	gw := servicetest.StartProcess(t, bins["gateway"], "-config", cfg, "-log-level", "info", "-drain", "20s")

	// The queue as the next start finds it.
	inQueue := map[key]bool{}
	readQueue := func() int {
		q, err := queue.Open(queue.Options{Dir: qdir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		r := q.NewReader(q.FirstPending())
		defer r.Close()
		n := 0
		for {
			rec, ok, err := r.Next(^uint64(0))
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return n
			}
			var msg telemetry.Message
			if err := json.Unmarshal(rec.Payload, &msg); err != nil {
				t.Fatalf("queued record %d: %v", rec.Seq, err)
			}
			for _, s := range msg.Samples {
				inQueue[key{s.Device, s.TS}] = true
			}
			n++
		}
	}

	type kill struct {
		// The SIGKILL was sent at at; the process was gone by gone. A
		// read the simulator answered in between went to a dying
		// gateway (a loaded machine saw one 5 ms after at).
		at, gone time.Time
		outage   bool
		inQueue  int
	}
	var kills []kill
	rounds := 6
	for i := range rounds {
		outage := i == 2 || i == 4
		time.Sleep(3*time.Second + time.Duration(rng.IntN(3000))*time.Millisecond)
		if outage {
			// The broker goes; records wait past the window and must be
			// on disk when the kill comes.
			mq.Stop(10 * time.Second)
			time.Sleep(2*time.Second + time.Duration(rng.IntN(2000))*time.Millisecond)
		}
		at := time.Now()
		gw.Kill()
		k := kill{at: at, gone: time.Now(), outage: outage, inQueue: readQueue()}
		kills = append(kills, k)
		t.Logf("kill %d at %s (broker %s): %d records in the queue", i+1, at.Format("15:04:05.000"),
			map[bool]string{true: "down", false: "up"}[outage], k.inQueue)
		if outage {
			if err := mq.Start(); err != nil {
				t.Fatal(err)
			}
			servicetest.WaitTCP(t, mq.Addr, 10*time.Second)
		}
		if err := gw.Start(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(4 * time.Second)
	stopped := time.Now()
	gw.Stop(30 * time.Second)
	if !strings.Contains(gw.LogText(), "unsent=0") {
		t.Errorf("the gateway stopped with records unsent")
	}
	simProc.Stop(10 * time.Second)
	time.Sleep(time.Second) // the last PUBLISH reaches the subscriber

	f, err := os.Open(record)
	if err != nil {
		t.Fatal(err)
	}
	served, err := sim.ReadRecords(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	byDev := map[string][]int64{}
	for k := range delivered {
		byDev[k.device] = append(byDev[k.device], k.ts)
	}
	for k := range inQueue {
		byDev[k.device] = append(byDev[k.device], k.ts)
	}
	for _, ts := range byDev {
		slices.Sort(ts)
	}
	found := func(dev string, at int64) bool {
		ts := byDev[dev]
		i := sort.Search(len(ts), func(i int) bool { return ts[i] >= at-50 })
		return i < len(ts) && ts[i] <= at+500
	}
	// Reads of one poll are one sample: count polls, by device and second.
	type poll struct {
		device string
		sec    int64
	}
	seen := map[poll]bool{}
	missing, inWindow, atStop := 0, 0, 0
	var worst time.Duration
	for _, r := range served {
		p := poll{r.Device, r.T / 1000}
		if seen[p] {
			continue
		}
		seen[p] = true
		if found(r.Device, r.T) {
			continue
		}
		at := time.UnixMilli(r.T)
		if !at.Before(stopped.Add(-time.Second)) {
			atStop++
			continue
		}
		// The first kill the gateway had not yet died of when the read was
		// answered (at may be after that kill's SIGKILL was sent).
		i := sort.Search(len(kills), func(i int) bool { return kills[i].gone.After(at) })
		if i < len(kills) && kills[i].at.Sub(at) <= killWindow+killSlack {
			inWindow++
			worst = max(worst, kills[i].at.Sub(at))
			continue
		}
		if missing < 10 {
			next := "none"
			if i < len(kills) {
				next = kills[i].at.Sub(at).Round(time.Millisecond).String() + " before kill " + fmt.Sprint(i+1)
			}
			t.Errorf("%s polled at %s (%s) is neither delivered nor queued", r.Device, at.Format("15:04:05.000"), next)
		}
		missing++
	}
	fmt.Printf("\nkill -9 test: %d kills (%d during a broker outage), write_behind %s, seed %d\n", len(kills), 2, killWindow, seed)
	fmt.Printf("polls served %d, delivered %d, in the queue after a kill %d\n", len(seen), len(delivered), len(inQueue))
	fmt.Printf("polls lost within one window (+%s) before a kill: %d (oldest %s before its kill); at the final stop: %d; lost outside the window: %d\n",
		killSlack, inWindow, worst.Round(time.Millisecond), atStop, missing)
	if len(seen) < 6*20 {
		t.Errorf("only %d polls served: the test did not run long enough to mean anything", len(seen))
	}
	for i, k := range kills {
		if k.outage && k.inQueue == 0 {
			t.Errorf("kill %d during an outage found nothing in the queue", i+1)
		}
	}
}
