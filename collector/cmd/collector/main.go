// Command collector consumes gateway telemetry from MQTT and writes it to
// InfluxDB. By default it runs an embedded MQTT broker.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/broker"
	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/ingest"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

var version = "dev"

func main() {
	fs := flag.NewFlagSet("collector", flag.ExitOnError)
	configPath := fs.String("config", "/etc/boilerwatch/collector.yaml", "collector configuration `file` (YAML)")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	logJSON := fs.Bool("log-json", false, "log as JSON lines instead of text")
	report := fs.Duration("report", 10*time.Second, "log a progress line (samples written, rejects) this often; 0 disables")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: collector -config FILE [flags]\n\nConsumes gateway telemetry from MQTT and writes it to InfluxDB.\nThe InfluxDB token is read from the variable named by influxdb.token_env.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if *showVersion {
		fmt.Println("collector", version)
		return
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "collector: -log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}
	hopts := &slog.HandlerOptions{Level: level}
	log := slog.New(slog.NewTextHandler(os.Stderr, hopts))
	if *logJSON {
		log = slog.New(slog.NewJSONHandler(os.Stderr, hopts))
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log, *report); err != nil {
		log.Error("collector stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg *config.Collector, log *slog.Logger, report time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()

	if cfg.MQTT.Embedded != "" {
		b, err := broker.Start(ctx, cfg.MQTT.Embedded, log)
		if err != nil {
			return err
		}
		defer b.Close()
		log.Info("embedded MQTT broker listening", "addr", b.Addr())
	}
	st := store.Open(store.Config{URL: cfg.InfluxDB.URL, Token: os.Getenv(cfg.InfluxDB.TokenEnv), Org: cfg.InfluxDB.Org, Bucket: cfg.InfluxDB.Bucket})
	defer st.Close()
	if cfg.InfluxDB.CreateDatabase {
		// InfluxDB may still be starting (systemd, the demo): wait for it.
		for {
			err := st.EnsureDatabase(ctx)
			if err == nil {
				break
			}
			log.Warn("waiting for InfluxDB", "error", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		}
	}
	cons := ingest.New(ingest.Options{
		Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID, Username: cfg.MQTT.Username,
		Password: os.Getenv(cfg.MQTT.PasswordEnv), ShareGroup: cfg.MQTT.ShareGroup,
		MaxPoints: cfg.Batch.MaxPoints, Flush: cfg.Batch.Flush, Logger: log,
	}, st)
	if cfg.HTTP.Listen != "" {
		srv, err := serveHTTP(ctx, cfg.HTTP.Listen, st, log)
		if err != nil {
			return err
		}
		wg.Go(func() { <-ctx.Done(); srv.Close() })
	}
	if report > 0 {
		wg.Go(func() { reportLoop(ctx, cons, cfg, report, log) })
	}
	log.Info("collector started", "broker", cfg.MQTT.Broker, "influxdb", cfg.InfluxDB.URL, "bucket", cfg.InfluxDB.Bucket, "version", version)
	err := cons.Run(ctx)
	log.Info("collector stopping")
	return err
}

// reportLoop prints what was written, so an operator sees data arriving.
func reportLoop(ctx context.Context, c *ingest.Consumer, cfg *config.Collector, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	var lastSamples uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := c.Stats.Samples.Load()
		log.Info("progress", "samples_written", s-lastSamples, "samples_total", s, "values_total", c.Stats.Points.Load(),
			"rejected_total", c.Stats.RejectedTotal(), "write_failures", c.Stats.WriteFailures.Load(),
			"influxdb", cfg.InfluxDB.URL, "bucket", cfg.InfluxDB.Bucket)
		lastSamples = s
	}
}

func serveHTTP(ctx context.Context, addr string, st *store.Store, log *slog.Logger) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := st.Ready(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "error", err)
		}
	}()
	return srv, nil
}
