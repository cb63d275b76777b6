package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
	"github.com/boilerwatch/boilerwatch/simulator/model"
)

// player runs the fleet's gateways until its context ends.
type player struct {
	fleet
	broker, password    string
	log                 *slog.Logger
	outageShare         float64
	outageAt, outageFor time.Duration
	probe               int
	// onPlan, if set, gets the outage gateways and probes before the run.
	onPlan                          func(result) error
	boiler                          *profile.Profile
	meters                          [len(meterProfiles)]*profile.Profile
	published, acked, failed, vals  atomic.Int64
	replayed, connectErrs, notHeard atomic.Int64
}

// result is what the run did, for the measurement's table.
type result struct {
	Gateways      int      `json:"gateways"`
	Seconds       float64  `json:"seconds"`
	Published     int64    `json:"published"`
	Acked         int64    `json:"acked"`
	Failed        int64    `json:"failed"`
	Values        int64    `json:"values"`
	Replayed      int64    `json:"replayed"`
	ConnectErrors int64    `json:"connect_errors"`
	Outage        []string `json:"outage"` // site/gateway of each gateway whose link dropped
	Probes        []string `json:"probes"` // site/gateway of gateways that never go out
}

// heartbeatStale is when a gateway stops forwarding, as gateway/publish
// does: three heartbeats missed.
const heartbeatStale = 3 * telemetry.HeartbeatEvery

func (p *player) run(ctx context.Context) (result, error) {
	lib, err := profile.LoadLibrary()
	if err != nil {
		return result{}, err
	}
	p.boiler = lib[boilerProfile]
	for i, n := range meterProfiles {
		p.meters[i] = lib[n]
	}
	if p.boiler == nil || p.meters[0] == nil || p.meters[1] == nil {
		return result{}, fmt.Errorf("profiles %s, %v not in the library", boilerProfile, meterProfiles)
	}
	start := time.Now()
	// Outage gateways are spread evenly over the fleet; probes are taken
	// from the others, likewise spread.
	out := map[int]bool{}
	if k := int(p.outageShare * float64(p.N)); k > 0 {
		for j := range k {
			out[j*p.N/k] = true
		}
	}
	var res result
	for i := range p.N {
		if out[i] {
			res.Outage = append(res.Outage, p.site(i)+"/"+p.gateway(i))
		}
	}
	if p.probe > 0 {
		step := max(1, p.N/p.probe)
		for i := step / 2; i < p.N && len(res.Probes) < p.probe; i += step {
			for ; out[i] && i < p.N-1; i++ {
			}
			if !out[i] {
				res.Probes = append(res.Probes, p.site(i)+"/"+p.gateway(i))
			}
		}
	}
	if p.onPlan != nil {
		if err := p.onPlan(res); err != nil {
			return result{}, err
		}
	}
	var wg sync.WaitGroup
	for i := range p.N {
		g := &gateway{p: p, i: i, site: p.site(i), id: p.gateway(i), outage: out[i]}
		// Phases spread the fleet's publishes over the second and the
		// meters' over their 15 s, as gateways started at random times.
		g.phase = time.Duration(i) * time.Second / time.Duration(p.N)
		wg.Go(func() { g.run(ctx, start) })
	}
	wg.Wait()
	res.Gateways, res.Seconds = p.N, time.Since(start).Seconds()
	res.Published, res.Acked, res.Failed, res.Values = p.published.Load(), p.acked.Load(), p.failed.Load(), p.vals.Load()
	res.Replayed, res.ConnectErrors = p.replayed.Load(), p.connectErrs.Load()
	return res, nil
}

// gateway is one played gateway: its physics, its link and its backlog.
type gateway struct {
	p              *player
	i              int
	site, id, boot string
	outage         bool
	phase          time.Duration

	boiler  *model.Boiler
	meters  [metersPerGW]*model.ElectricityMeter
	seq     uint64
	enc     telemetry.Encoder
	conn    net.Conn
	client  mqtt.Client
	heard   atomic.Int64        // UnixNano of the last heartbeat
	backlog []telemetry.Message // messages not yet forwarded, oldest first
	pending []inFlight
	lost    atomic.Bool // the link dropped by itself (keepalive, broker)
}

func (g *gateway) run(ctx context.Context, start time.Time) {
	seed := uint64(g.i + 1)
	var b [8]byte
	rand.Read(b[:])
	g.boot = hex.EncodeToString(b[:])
	boiler, err := model.NewBoiler(model.DefaultBoiler(), seed, start)
	if err != nil {
		g.p.log.Error("boiler model", "gateway", g.id, "error", err)
		return
	}
	g.boiler = boiler
	for m := range g.meters {
		g.meters[m] = model.NewElectricityMeter(model.MeterParams{Seed: seed*100 + uint64(m), Start: start})
	}
	select {
	case <-time.After(g.phase):
	case <-ctx.Done():
		return
	}
	g.connect(ctx)
	defer g.close()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	downAt, upAt := start.Add(g.p.outageAt), start.Add(g.p.outageAt+g.p.outageFor)
	down := false
	for n := 0; ; n++ {
		now := time.Now()
		switch {
		case g.outage && !down && now.After(downAt) && now.Before(upAt):
			// The link drops without a DISCONNECT: the broker publishes
			// the last will.
			down = true
			g.drop()
		case down && now.After(upAt):
			down = false
			g.connect(ctx)
		case !down && (g.client == nil || g.lost.Load()):
			// A link lost by itself (an overloaded broker misses a
			// keepalive) is set up again, as the gateway does.
			g.drop()
			g.connect(ctx)
		}
		old := len(g.backlog) // queued in earlier seconds: not sent live
		g.poll(now, (n+g.i)%15 == 0)
		if !down && g.client != nil && time.Since(time.Unix(0, g.heard.Load())) < heartbeatStale {
			g.forward(old)
		}
		g.reap()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// poll makes this second's messages: the boiler's, and the meters' when
// due, each a numbered message queued for forwarding.
func (g *gateway) poll(now time.Time, meters bool) {
	g.boiler.Step(now)
	g.queue(g.sample(boilerDevice, g.p.boiler, now, g.boiler.Quantities()))
	if !meters {
		return
	}
	for m, mm := range g.meters {
		mm.Step(now)
		g.queue(g.sample(meterDevice(m), g.p.meters[m*len(meterProfiles)/metersPerGW], now, mm.Quantities()))
	}
}

func (g *gateway) sample(dev string, pr *profile.Profile, now time.Time, q map[string]any) telemetry.Sample {
	s := telemetry.Sample{Device: deviceOf(g.id, dev), Profile: pr.Name, Class: string(pr.Class), TS: now.UnixMilli(),
		Values: make(map[string]telemetry.Value, len(pr.Points))}
	for i := range pr.Points {
		pt := &pr.Points[i]
		switch v := q[pt.QuantityName()].(type) {
		case float64:
			s.Values[pt.Name] = telemetry.Number(v)
		case bool:
			s.Values[pt.Name] = telemetry.Boolean(v)
		}
	}
	return s
}

func (g *gateway) queue(s telemetry.Sample) {
	g.seq++
	g.p.vals.Add(int64(len(s.Values)))
	g.backlog = append(g.backlog, telemetry.Message{V: telemetry.Version, Site: g.site, Gateway: g.id, Seq: g.seq, Boot: g.boot, Samples: []telemetry.Sample{s}})
}

// forward publishes the backlog at QoS 1. Its first old messages, queued
// in earlier seconds while the link was down or no collector was heard,
// are replayed marked historical, with their original timestamps, as the
// gateway's disk queue replays them.
func (g *gateway) forward(old int) {
	topic := telemetry.SamplesTopic(g.site, g.id)
	for i := range g.backlog {
		m := &g.backlog[i]
		if i < old {
			m.Historical = true
			g.p.replayed.Add(1)
		}
		// Publish keeps the payload until acknowledged: a copy, not the
		// encoder's buffer.
		payload := append([]byte(nil), g.enc.Encode(m)...)
		g.pending = append(g.pending, inFlight{g.client.Publish(topic, 1, false, payload), *m})
		g.p.published.Add(1)
	}
	g.backlog = g.backlog[:0]
}

// inFlight is a publish not yet acknowledged, with its message: the
// gateway's queue keeps a record until the broker acknowledges it.
type inFlight struct {
	tok mqtt.Token
	msg telemetry.Message
}

// reap counts the acknowledged publishes; a failed one goes back to the
// front of the backlog, to be sent again (historical) on the next link.
func (g *gateway) reap() {
	keep := g.pending[:0]
	var again []telemetry.Message
	for _, p := range g.pending {
		select {
		case <-p.tok.Done():
			if p.tok.Error() != nil {
				g.p.failed.Add(1)
				if p.msg.Samples != nil {
					again = append(again, p.msg)
				}
			} else {
				g.p.acked.Add(1)
			}
		default:
			keep = append(keep, p)
		}
	}
	g.pending = keep
	if len(again) > 0 {
		g.backlog = append(again, g.backlog...)
	}
}

func (g *gateway) connect(ctx context.Context) {
	identity := g.site + "/" + g.id
	will, _ := json.Marshal(telemetry.Status{V: telemetry.Version, Gateway: g.id, State: "offline", Boot: g.boot})
	u, _ := url.Parse(g.p.broker)
	opts := mqtt.NewClientOptions().AddBroker(g.p.broker).SetClientID("bw-gw-"+g.id).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(30*time.Second).
		SetConnectTimeout(30*time.Second).SetWriteTimeout(30*time.Second).
		SetBinaryWill(telemetry.StatusTopic(g.site, g.id), will, 1, true).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) {
			// Kept so that drop can cut the link under the client.
			c, err := (&net.Dialer{Timeout: 30 * time.Second}).Dial("tcp", u.Host)
			g.conn = c
			return c, err
		})
	if g.p.password != "" {
		opts.SetUsername(identity).SetPassword(g.p.password)
	}
	g.lost.Store(false)
	opts.SetConnectionLostHandler(func(mqtt.Client, error) { g.lost.Store(true) })
	c := mqtt.NewClient(opts)
	for attempt := 0; attempt < 5; attempt++ {
		tok := c.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return
		}
		if tok.Error() == nil {
			break
		}
		g.p.connectErrs.Add(1)
		if attempt == 4 {
			g.p.log.Warn("gateway not connected", "gateway", identity, "error", tok.Error())
			return
		}
		time.Sleep(time.Second << attempt)
	}
	sub := c.Subscribe(telemetry.HeartbeatTopic, 0, func(mqtt.Client, mqtt.Message) { g.heard.Store(time.Now().UnixNano()) })
	sub.WaitTimeout(30 * time.Second)
	devs := map[string]telemetry.DeviceState{deviceOf(g.id, boilerDevice): {State: "online"}}
	for m := range metersPerGW {
		devs[deviceOf(g.id, meterDevice(m))] = telemetry.DeviceState{State: "online"}
	}
	birth, _ := json.Marshal(telemetry.Status{V: telemetry.Version, Gateway: g.id, State: "online", Version: "loadgen", Boot: g.boot,
		TS: time.Now().UnixMilli(), Devices: devs, Clock: telemetry.ClockSynchronised, Queue: &telemetry.QueueStatus{Pending: uint64(len(g.backlog))}})
	g.pending = append(g.pending, inFlight{tok: c.Publish(telemetry.StatusTopic(g.site, g.id), 1, true, birth)})
	g.client = c
}

// drop cuts the TCP connection without an MQTT DISCONNECT, as a lost
// 4G link does.
func (g *gateway) drop() {
	if g.conn != nil {
		g.conn.Close()
	}
	if g.client != nil {
		g.client.Disconnect(0)
		g.client = nil
	}
}

func (g *gateway) close() {
	if g.client != nil {
		g.client.Disconnect(250)
	}
}
