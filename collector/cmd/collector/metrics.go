package main

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/boilerwatch/boilerwatch/collector/broker"
	"github.com/boilerwatch/boilerwatch/collector/energy"
	"github.com/boilerwatch/boilerwatch/collector/ingest"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// metrics are the collector's instruments on one registry per process.
// InfluxDB writes and efficiency windows are recorded as they happen (a
// timing Writer, derived's callbacks); the consumer's and gap detector's
// counters are read at scrape time by counters.
type metrics struct {
	reg          *prometheus.Registry
	writeSeconds *prometheus.HistogramVec
	efficiency   *prometheus.CounterVec
	effFailures  *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		writeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bw_collector_influxdb_write_seconds",
			Help:    "Duration of InfluxDB writes (raw batches, derived results, gap events); result is ok or error.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"result"}),
		efficiency: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bw_collector_efficiency_computations_total",
			Help: "Boiler efficiency windows computed and written, by period (1m, 15m, 1h, 1d, 1mo).",
		}, []string{"period"}),
		effFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bw_collector_efficiency_failures_total",
			Help: "Efficiency computations without a result: no_value (a window without enough data for either method) or cycle (a cycle that failed, e.g. InfluxDB down).",
		}, []string{"reason"}),
	}
	m.reg.MustRegister(m.writeSeconds, m.efficiency, m.effFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observeEfficiency is derived.Options.OnEfficiency.
func (m *metrics) observeEfficiency(r *energy.Result) {
	m.efficiency.WithLabelValues(string(r.Period)).Inc()
	if !r.HasDirect && !r.HasIndirect {
		m.effFailures.WithLabelValues("no_value").Inc()
	}
}

// observeCycleError is derived.Options.OnCycleError.
func (m *metrics) observeCycleError(error) { m.effFailures.WithLabelValues("cycle").Inc() }

// writer is an ingest.Writer and LineWriter that times every InfluxDB
// write. It also remembers since when a write has been running, so the
// systemd watchdog can tell a collector stuck in a write from one that is
// idle.
type writer struct {
	w        *store.Store
	m        *metrics
	inflight atomic.Int64 // Unix ns the oldest running write started; 0: none
	running  atomic.Int64
}

var (
	_ ingest.Writer     = (*writer)(nil)
	_ ingest.LineWriter = (*writer)(nil)
)

func (w *writer) Write(ctx context.Context, points ...*write.Point) error {
	return w.timed(func() error { return w.w.Write(ctx, points...) })
}

func (w *writer) WriteLines(ctx context.Context, lines []byte) error {
	return w.timed(func() error { return w.w.WriteLines(ctx, lines) })
}

func (w *writer) timed(write func() error) error {
	start := time.Now()
	if w.running.Add(1) == 1 {
		w.inflight.Store(start.UnixNano())
	}
	err := write()
	if w.running.Add(-1) == 0 {
		w.inflight.Store(0)
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	w.m.writeSeconds.WithLabelValues(result).Observe(time.Since(start).Seconds())
	return err
}

// stuckFor is how long the oldest running write has taken (0: none runs).
func (w *writer) stuckFor() time.Duration {
	t := w.inflight.Load()
	if t == 0 {
		return 0
	}
	return time.Since(time.Unix(0, t))
}

// counters exposes the consumer's and the gap detector's counters, which
// they keep as atomics, at scrape time.
type counters struct {
	c           *ingest.Consumer
	gaps        *ingest.Gaps
	deadLetters *ingest.DeadLetters
}

func cdesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dMessages      = cdesc("bw_collector_messages_total", "Telemetry messages written to InfluxDB and acknowledged.")
	dSamples       = cdesc("bw_collector_samples_total", "Samples (points) written.")
	dValues        = cdesc("bw_collector_values_total", "Values written.")
	dWriteFailures = cdesc("bw_collector_write_failures_total", "InfluxDB writes of telemetry that failed and were retried.")
	dRedelivered   = cdesc("bw_collector_redelivered_total", "Messages the broker delivered again (DUP).")
	dRejected      = cdesc("bw_collector_rejected_total", "Messages, samples, values and points refused and kept in the dead-letter store, by reason and by the gateway they came from (site and gateway \"other\" past 2,000 distinct ones).", "reason", "site", "gateway")
	dDeadDropped   = cdesc("bw_collector_dead_letters_dropped_total", "Dead letters deleted unreingested because the store reached ingest.dead_letters_max.")
	dStalled       = cdesc("bw_collector_ingest_stalled_seconds", "How long the oldest telemetry batch has been waiting for InfluxDB to take it (0: none waits); /readyz fails past 30 s.")
	dGaps          = cdesc("bw_collector_seq_gaps_total", "Sequence gaps not filled within gaps.fill_within.")
	dGapMessages   = cdesc("bw_collector_seq_gap_messages_total", "Messages missing in reported gaps.")
	dLate          = cdesc("bw_collector_seq_late_total", "Messages that arrived after their gap was reported.")
	dDuplicates    = cdesc("bw_collector_duplicates_total", "Messages written again (redelivery, replay).")
)

// Describe implements prometheus.Collector.
func (k *counters) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dMessages, dSamples, dValues, dWriteFailures, dRedelivered, dRejected, dDeadDropped, dStalled, dGaps, dGapMessages, dLate, dDuplicates} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (k *counters) Collect(ch chan<- prometheus.Metric) {
	one := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	s := &k.c.Stats
	one(dMessages, s.Messages.Load())
	one(dSamples, s.Samples.Load())
	one(dValues, s.Points.Load())
	one(dWriteFailures, s.WriteFailures.Load())
	one(dRedelivered, s.Redelivered.Load())
	for r, n := range s.Refused() {
		one(dRejected, n, r.Reason, r.Site, r.Gateway)
	}
	if k.deadLetters != nil {
		one(dDeadDropped, k.deadLetters.Dropped.Load())
	}
	ch <- prometheus.MustNewConstMetric(dStalled, prometheus.GaugeValue, k.c.Stalled().Seconds())
	g := &k.gaps.Stats
	one(dGaps, g.Gaps.Load())
	one(dGapMessages, g.Missing.Load())
	one(dLate, g.LateFilled.Load())
	one(dDuplicates, g.Duplicates.Load())
}

// brokerCounters exposes the embedded broker's refusals at scrape time.
type brokerCounters struct{ b *broker.Broker }

var (
	dBrokerRefused = cdesc("bw_collector_broker_refused_total", "Connections the embedded broker refused: a bad login, a last will outside the client's topics, another user's client id.")
	dBrokerDenied  = cdesc("bw_collector_broker_denied_total", "Publishes, subscriptions and deliveries the embedded broker's ACL refused.")
	dBrokerHeld    = cdesc("bw_collector_broker_held_total", "Publishes the embedded broker left unacknowledged because the collector's backlog was full; their gateways send them again.")
	dBrokerDropped = cdesc("bw_collector_broker_dropped_total", "Messages the embedded broker dropped after acknowledging them: the queue of a session that is no collector's overflowed.")
)

// Describe implements prometheus.Collector.
func (k brokerCounters) Describe(ch chan<- *prometheus.Desc) {
	ch <- dBrokerRefused
	ch <- dBrokerDenied
	ch <- dBrokerHeld
	ch <- dBrokerDropped
}

// Collect implements prometheus.Collector.
func (k brokerCounters) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(dBrokerRefused, prometheus.CounterValue, float64(k.b.Refused()))
	ch <- prometheus.MustNewConstMetric(dBrokerDenied, prometheus.CounterValue, float64(k.b.Denied()))
	ch <- prometheus.MustNewConstMetric(dBrokerHeld, prometheus.CounterValue, float64(k.b.Held()))
	ch <- prometheus.MustNewConstMetric(dBrokerDropped, prometheus.CounterValue, float64(k.b.Dropped()))
}
