package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/cluster"
	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/derived"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// energyLate tells the energy engine, once it runs, of every sample the
// ingest wrote, so that samples behind the engine (a replayed backlog) are
// computed again (derived.Runner.Late).
type energyLate struct {
	r atomic.Pointer[derived.Runner]
}

// observe chains the engine after next (the gap detector) in ingest's
// Observe, which runs after a message is written and before it is acked.
func (l *energyLate) observe(next func(*telemetry.Message)) func(*telemetry.Message) {
	return func(m *telemetry.Message) {
		next(m)
		if r := l.r.Load(); r != nil {
			for _, s := range m.Samples {
				r.Late(context.Background(), m.Site, s.Device, time.UnixMilli(s.TS))
			}
		}
	}
}

// startEnergy runs the efficiency and energy engine (the config's energy
// section) until ctx is done; wg waits for it. classes are the
// measurements the ingest stores samples in.
func startEnergy(ctx context.Context, wg *sync.WaitGroup, cfg *config.Collector, st *store.Store, classes []string, m *metrics, late *energyLate, mqttTLS *tls.Config, log *slog.Logger) error {
	pub := derived.NewMQTT(derived.MQTTOptions{
		Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID + "-alerts",
		Username: cfg.MQTT.Username, Password: os.Getenv(cfg.MQTT.PasswordEnv), Logger: log,
	})
	o := derived.Options{Config: cfg.Energy, Store: st, Publisher: pub, Logger: log,
		OnEfficiency: m.observeEfficiency, OnCycleError: m.observeCycleError,
		Delete: derived.InfluxQL(cfg.InfluxDB.URL, os.Getenv(cfg.InfluxDB.TokenEnv), cfg.InfluxDB.Bucket),
		// The ingest tells the engine of every sample it writes (energyLate).
		Written: true, Measurements: classes}
	if c := cfg.Energy.Cluster; c != nil {
		o.Cluster = cluster.Join(ctx, cluster.Options{Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID + "-presence",
			Username: cfg.MQTT.Username, Password: os.Getenv(cfg.MQTT.PasswordEnv), TLS: mqttTLS,
			ID: c.ID, Keepalive: c.Keepalive.Duration, Logger: log})
		o.Handover = c.Handover.Duration
	}
	r, err := derived.New(o)
	if err != nil {
		pub.Close()
		return err
	}
	late.r.Store(r)
	log.Info("energy engine started", "boilers", len(cfg.Energy.Boilers), "meters", len(cfg.Energy.Meters), "timezone", cfg.Energy.Timezone,
		"shared", cfg.Energy.Cluster != nil)
	wg.Go(func() {
		defer pub.Close()
		r.Run(ctx)
	})
	return nil
}
