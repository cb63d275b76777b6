package main

import (
	"encoding/json"
	"time"

	"github.com/boilerwatch/boilerwatch/gateway/bus"
	"github.com/boilerwatch/boilerwatch/gateway/poll"
	"github.com/boilerwatch/boilerwatch/gateway/promtext"
	"github.com/boilerwatch/boilerwatch/gateway/publish"
	"github.com/boilerwatch/boilerwatch/gateway/queue"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// metrics are the gateway's instruments, registered on one registry per
// process. Event counts (polls, errors, PUBACKs) are recorded as they
// happen through the poll and publish callbacks; the state of queue,
// forwarder and devices is read at scrape time by state. They use
// promtext, not client_golang, which cost the gateway about 2 MB of
// binary and 2 MB of peak resident memory.
type metrics struct {
	reg            *promtext.Registry
	pollSeconds    *promtext.HistogramVec
	modbusErrors   *promtext.CounterVec
	ackSeconds     *promtext.HistogramVec
	samplesDropped *promtext.Counter
}

func newMetrics() *metrics {
	reg := promtext.NewRegistry()
	m := &metrics{
		reg: reg,
		pollSeconds: reg.NewHistogramVec("bw_gateway_poll_duration_seconds",
			"Time to poll one group of a device: every request of it, pauses included.",
			// Polls range from a few ms (one TCP request) to seconds (RTU
			// at 9600 baud, or timeouts).
			[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "device"),
		modbusErrors: reg.NewCounterVec("bw_gateway_modbus_errors_total",
			"Failed Modbus requests by kind (timeout, exception, crc, framing, connection, other); code is the exception code.",
			"device", "kind", "code"),
		ackSeconds: reg.NewHistogramVec("bw_gateway_publish_ack_seconds",
			"Time from MQTT publish to the broker's PUBACK; kind is live or historical.",
			// 4G links see hundreds of ms; a queue replay adds seconds.
			[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, "kind"),
		samplesDropped: reg.NewCounter("bw_gateway_samples_dropped_total",
			"Samples dropped before the queue because it did not keep up."),
	}
	reg.MustRegister(promtext.NewGoCollector(), promtext.NewProcessCollector())
	return m
}

// observePoll is poll.SiteOptions.OnPoll. It does not allocate once the
// device has been seen: it runs on every poll of every device.
func (m *metrics) observePoll(device string, took time.Duration) {
	m.pollSeconds.With(device).Observe(took.Seconds())
}

// observeReadError is poll.SiteOptions.OnReadError.
func (m *metrics) observeReadError(device string, err error) {
	kind, code := bus.ErrorKind(err)
	m.modbusErrors.With(device, kind, code).Inc()
}

// observeAck is publish.ForwardOptions.OnAck.
func (m *metrics) observeAck(took time.Duration, historical bool) {
	kind := "live"
	if historical {
		kind = "historical"
	}
	m.ackSeconds.With(kind).Observe(took.Seconds())
}

// state reads the gateway's current state at scrape time, so that nothing
// is copied between scrapes.
type state struct {
	q       *queue.Queue
	f       *publish.Forwarder
	pub     *publish.Publisher
	devices func() []*poll.Device
	version string
}

var (
	dQueuePending     = promtext.NewGaugeDesc("bw_gateway_queue_pending", "Queued records not yet acknowledged by the broker.")
	dQueueBytes       = promtext.NewGaugeDesc("bw_gateway_queue_bytes", "Bytes of queue segment files.")
	dQueueAppended    = promtext.NewCounterDesc("bw_gateway_queue_appended_total", "Records appended to the queue.")
	dQueueDropped     = promtext.NewCounterDesc("bw_gateway_queue_dropped_total", "Unsent records deleted because the queue reached max_bytes.")
	dQueueLost        = promtext.NewCounterDesc("bw_gateway_queue_lost_total", "Records that could not be stored or were unreadable.")
	dQueueDamaged     = promtext.NewCounterDesc("bw_gateway_queue_damaged_total", "Damaged regions found in queue files.")
	dQueueQuarantined = promtext.NewCounterDesc("bw_gateway_queue_quarantined_total", "Files moved to the queue's quarantine directory.")
	dQueueOldest      = promtext.NewGaugeDesc("bw_gateway_queue_oldest_age_seconds", "Age of the oldest unacknowledged record (by its sample timestamp); 0 when the queue is empty.")
	dPublished        = promtext.NewCounterDesc("bw_gateway_published_total", "Messages acknowledged by the broker.", "kind")
	dPublishFailures  = promtext.NewCounterDesc("bw_gateway_publish_failures_total", "Publishes that failed and stay queued.")
	dReplayRate       = promtext.NewGaugeDesc("bw_gateway_replay_rate", "Messages per second of the last backlog replay.")
	dConnected        = promtext.NewGaugeDesc("bw_gateway_mqtt_connected", "1 while the gateway is connected to its broker.")
	dRoundTrips       = promtext.NewGaugeDesc("bw_gateway_round_trips_per_cycle", "Modbus requests of one poll of every group of the device, as it polls now: more than planned once it refused a merged read.", "device")
	dPlanned          = promtext.NewGaugeDesc("bw_gateway_planned_round_trips_per_cycle", "Modbus requests of one poll of every group of the device as planned from the config and the holes learned before this start (gateway -plan).", "device")
	dDeviceState      = promtext.NewGaugeDesc("bw_gateway_device_state", "1 for the device's current state (online, degraded, offline, unknown), 0 for the others.", "device", "state")
	dInfo             = promtext.NewGaugeDesc("bw_gateway_info", "Always 1; the label says the software version.", "version")
)

var deviceStates = []string{poll.Online, poll.Degraded, poll.Offline, poll.Unknown}

// Describe implements promtext.Collector.
func (s *state) Describe() []*promtext.Desc {
	return []*promtext.Desc{dQueuePending, dQueueBytes, dQueueAppended, dQueueDropped, dQueueLost, dQueueDamaged,
		dQueueQuarantined, dQueueOldest, dPublished, dPublishFailures, dReplayRate, dConnected, dRoundTrips, dPlanned, dDeviceState, dInfo}
}

// Collect implements promtext.Collector.
func (s *state) Collect(sc *promtext.Scrape) {
	st := s.q.Stats()
	sc.Emit(dQueuePending, float64(st.Pending))
	sc.Emit(dQueueBytes, float64(st.Bytes))
	sc.Emit(dQueueAppended, float64(st.Appended))
	sc.Emit(dQueueDropped, float64(st.Dropped))
	sc.Emit(dQueueLost, float64(st.Lost))
	sc.Emit(dQueueDamaged, float64(st.Damaged))
	sc.Emit(dQueueQuarantined, float64(st.Quarantined))
	sc.Emit(dQueueOldest, oldestAge(s.q, st.Pending).Seconds())
	sc.Emit(dPublished, float64(s.f.Stats.Live.Load()), "live")
	sc.Emit(dPublished, float64(s.f.Stats.Historical.Load()), "historical")
	sc.Emit(dPublishFailures, float64(s.f.Stats.Failed.Load()))
	sc.Emit(dReplayRate, float64(s.f.Stats.ReplayRate.Load())/1000)
	sc.Emit(dConnected, b2f(s.pub.Connected()))
	devicesCollector(s.devices).Collect(sc)
	sc.Emit(dInfo, 1, s.version)
}

// devicesCollector emits every device's round trips and state.
type devicesCollector func() []*poll.Device

// Describe implements promtext.Collector.
func (devicesCollector) Describe() []*promtext.Desc {
	return []*promtext.Desc{dRoundTrips, dPlanned, dDeviceState}
}

// Collect implements promtext.Collector.
func (c devicesCollector) Collect(sc *promtext.Scrape) {
	for _, d := range c() {
		sc.Emit(dRoundTrips, float64(len(d.Plan())), d.Name())
		sc.Emit(dPlanned, float64(d.PlannedRoundTrips()), d.Name())
		cur := d.State().State
		for _, name := range deviceStates {
			sc.Emit(dDeviceState, b2f(cur == name), d.Name(), name)
		}
	}
}

// oldestAge reads the oldest pending record and returns the age of its
// newest sample: how far behind the broker is. One record is read per
// scrape, from memory or one segment file.
func oldestAge(q *queue.Queue, pending uint64) time.Duration {
	if pending == 0 {
		return 0
	}
	r := q.NewReader(q.FirstPending())
	defer r.Close()
	rec, ok, err := r.Next(q.LastSeq())
	if err != nil || !ok {
		return 0
	}
	var msg telemetry.Message
	if json.Unmarshal(rec.Payload, &msg) != nil {
		return 0
	}
	var ts int64
	for _, s := range msg.Samples {
		ts = max(ts, s.TS)
	}
	if ts == 0 {
		return 0
	}
	return max(time.Since(time.UnixMilli(ts)), 0)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
