package main

import (
	"context"
	"log/slog"
	"os"
	"sync"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/derived"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// startEnergy runs the efficiency and energy engine (the config's energy
// section) until ctx is done; wg waits for it.
func startEnergy(ctx context.Context, wg *sync.WaitGroup, cfg *config.Collector, st *store.Store, m *metrics, log *slog.Logger) error {
	pub := derived.NewMQTT(derived.MQTTOptions{
		Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID + "-alerts",
		Username: cfg.MQTT.Username, Password: os.Getenv(cfg.MQTT.PasswordEnv), Logger: log,
	})
	r, err := derived.New(derived.Options{Config: cfg.Energy, Store: st, Publisher: pub, Logger: log,
		OnEfficiency: m.observeEfficiency, OnCycleError: m.observeCycleError})
	if err != nil {
		pub.Close()
		return err
	}
	log.Info("energy engine started", "boilers", len(cfg.Energy.Boilers), "meters", len(cfg.Energy.Meters), "timezone", cfg.Energy.Timezone)
	wg.Go(func() {
		defer pub.Close()
		r.Run(ctx)
	})
	return nil
}
