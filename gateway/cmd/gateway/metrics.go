package main

import (
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/boilerwatch/boilerwatch/gateway/bus"
	"github.com/boilerwatch/boilerwatch/gateway/poll"
	"github.com/boilerwatch/boilerwatch/gateway/publish"
	"github.com/boilerwatch/boilerwatch/gateway/queue"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// metrics are the gateway's instruments, registered on one registry per
// process. Event counts (polls, errors, PUBACKs) are recorded as they
// happen through the poll and publish callbacks; the state of queue,
// forwarder and devices is read at scrape time by state.
type metrics struct {
	reg            *prometheus.Registry
	pollSeconds    *prometheus.HistogramVec
	modbusErrors   *prometheus.CounterVec
	ackSeconds     *prometheus.HistogramVec
	samplesDropped prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		pollSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bw_gateway_poll_duration_seconds",
			Help: "Time to poll one group of a device: every request of it, pauses included.",
			// Polls range from a few ms (one TCP request) to seconds (RTU
			// at 9600 baud, or timeouts).
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"device"}),
		modbusErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bw_gateway_modbus_errors_total",
			Help: "Failed Modbus requests by kind (timeout, exception, crc, framing, connection, other); code is the exception code.",
		}, []string{"device", "kind", "code"}),
		ackSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bw_gateway_publish_ack_seconds",
			Help: "Time from MQTT publish to the broker's PUBACK; kind is live or historical.",
			// 4G links see hundreds of ms; a queue replay adds seconds.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"kind"}),
		samplesDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bw_gateway_samples_dropped_total",
			Help: "Samples dropped before the queue because it did not keep up.",
		}),
	}
	m.reg.MustRegister(m.pollSeconds, m.modbusErrors, m.ackSeconds, m.samplesDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observePoll is poll.SiteOptions.OnPoll.
func (m *metrics) observePoll(device string, took time.Duration) {
	m.pollSeconds.WithLabelValues(device).Observe(took.Seconds())
}

// observeReadError is poll.SiteOptions.OnReadError.
func (m *metrics) observeReadError(device string, err error) {
	kind, code := bus.ErrorKind(err)
	m.modbusErrors.WithLabelValues(device, kind, code).Inc()
}

// observeAck is publish.ForwardOptions.OnAck.
func (m *metrics) observeAck(took time.Duration, historical bool) {
	kind := "live"
	if historical {
		kind = "historical"
	}
	m.ackSeconds.WithLabelValues(kind).Observe(took.Seconds())
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

// desc describes one metric of state; the descriptions never change.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dQueuePending     = desc("bw_gateway_queue_pending", "Queued records not yet acknowledged by the broker.")
	dQueueBytes       = desc("bw_gateway_queue_bytes", "Bytes of queue segment files.")
	dQueueAppended    = desc("bw_gateway_queue_appended_total", "Records appended to the queue.")
	dQueueDropped     = desc("bw_gateway_queue_dropped_total", "Unsent records deleted because the queue reached max_bytes.")
	dQueueLost        = desc("bw_gateway_queue_lost_total", "Records that could not be stored or were unreadable.")
	dQueueDamaged     = desc("bw_gateway_queue_damaged_total", "Damaged regions found in queue files.")
	dQueueQuarantined = desc("bw_gateway_queue_quarantined_total", "Files moved to the queue's quarantine directory.")
	dQueueOldest      = desc("bw_gateway_queue_oldest_age_seconds", "Age of the oldest unacknowledged record (by its sample timestamp); 0 when the queue is empty.")
	dPublished        = desc("bw_gateway_published_total", "Messages acknowledged by the broker.", "kind")
	dPublishFailures  = desc("bw_gateway_publish_failures_total", "Publishes that failed and stay queued.")
	dReplayRate       = desc("bw_gateway_replay_rate", "Messages per second of the last backlog replay.")
	dConnected        = desc("bw_gateway_mqtt_connected", "1 while the gateway is connected to its broker.")
	dRoundTrips       = desc("bw_gateway_round_trips_per_cycle", "Modbus requests of one poll of every group of the device, as it polls now: more than planned once it refused a merged read.", "device")
	dPlanned          = desc("bw_gateway_planned_round_trips_per_cycle", "Modbus requests of one poll of every group of the device as planned from the config (gateway -plan).", "device")
	dDeviceState      = desc("bw_gateway_device_state", "1 for the device's current state (online, degraded, offline, unknown), 0 for the others.", "device", "state")
	dInfo             = desc("bw_gateway_info", "Always 1; the label says the software version.", "version")
)

var deviceStates = []string{poll.Online, poll.Degraded, poll.Offline, poll.Unknown}

// Describe implements prometheus.Collector.
func (s *state) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dQueuePending, dQueueBytes, dQueueAppended, dQueueDropped, dQueueLost, dQueueDamaged,
		dQueueQuarantined, dQueueOldest, dPublished, dPublishFailures, dReplayRate, dConnected, dRoundTrips, dPlanned, dDeviceState, dInfo} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *state) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	st := s.q.Stats()
	gauge(dQueuePending, float64(st.Pending))
	gauge(dQueueBytes, float64(st.Bytes))
	counter(dQueueAppended, st.Appended)
	counter(dQueueDropped, st.Dropped)
	counter(dQueueLost, st.Lost)
	counter(dQueueDamaged, st.Damaged)
	counter(dQueueQuarantined, st.Quarantined)
	gauge(dQueueOldest, oldestAge(s.q, st.Pending).Seconds())
	counter(dPublished, s.f.Stats.Live.Load(), "live")
	counter(dPublished, s.f.Stats.Historical.Load(), "historical")
	counter(dPublishFailures, s.f.Stats.Failed.Load())
	gauge(dReplayRate, float64(s.f.Stats.ReplayRate.Load())/1000)
	gauge(dConnected, b2f(s.pub.Connected()))
	for _, d := range s.devices() {
		gauge(dRoundTrips, float64(len(d.Plan())), d.Name())
		gauge(dPlanned, float64(d.PlannedRoundTrips()), d.Name())
		cur := d.State().State
		for _, name := range deviceStates {
			gauge(dDeviceState, b2f(cur == name), d.Name(), name)
		}
	}
	gauge(dInfo, 1, s.version)
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
