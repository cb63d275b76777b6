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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/boilerwatch/boilerwatch/collector/broker"
	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/console"
	"github.com/boilerwatch/boilerwatch/collector/console/password"
	"github.com/boilerwatch/boilerwatch/collector/ingest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/sdnotify"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

var version = "dev"

func main() {
	fs := flag.NewFlagSet("collector", flag.ExitOnError)
	configPath := fs.String("config", "/etc/boilerwatch/collector.yaml", "collector configuration `file` (YAML)")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	logJSON := fs.Bool("log-json", false, "log as JSON lines instead of text")
	report := fs.Duration("report", 10*time.Second, "log a progress line (samples written, rejects) this often; 0 disables")
	showVersion := fs.Bool("version", false, "print the version and exit")
	deadLettersCmd := fs.String("dead-letters", "", "`list` the refused messages kept in ingest.data_dir, or `reingest` them (after fixing what refused them), and exit")
	hashPassword := fs.Bool("hash-password", false, "read a console password from the first line of standard input, print its hash for console.users[].password_hash, and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: collector -config FILE [flags]\n\nConsumes gateway telemetry from MQTT and writes it to InfluxDB.\nThe InfluxDB token is read from the variable named by influxdb.token_env.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if *hashPassword {
		h, err := password.HashLine(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "collector:", err)
			os.Exit(1)
		}
		fmt.Println(h)
		return
	}
	if *showVersion {
		fmt.Println("collector", version)
		return
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "collector: -log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}
	// PUT /loglevel on the metrics address changes it while running.
	levelVar := new(slog.LevelVar)
	levelVar.Set(level)
	hopts := &slog.HandlerOptions{Level: levelVar}
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
	if *deadLettersCmd != "" {
		if err := deadLetters(ctx, cfg, *deadLettersCmd, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "collector:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, cfg, log, levelVar, *report); err != nil {
		log.Error("collector stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg *config.Collector, log *slog.Logger, level *slog.LevelVar, report time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	m := newMetrics()
	if cfg.Metrics.Listen != "" {
		metricsHandler := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)})
		srv, err := serveOps(ctx, cfg.Metrics.Listen, metricsHandler, cfg.Metrics.Pprof, level, log)
		if err != nil {
			return err
		}
		wg.Go(func() { <-ctx.Done(); srv.Close() })
	} else if cfg.Metrics.Pprof {
		log.Warn("metrics.pprof is set but metrics.listen is not: no profiler served")
	}

	mqttTLS, tlsErr := cfg.MQTT.TLS()
	if tlsErr != nil {
		return fmt.Errorf("mqtt: %w", tlsErr)
	}
	if cfg.MQTT.Embedded != "" {
		// Logins and the ACL of the gateway registry and mqtt.embedded_users;
		// the collector's own clients get an internal login in cfg.MQTT.
		b, err := broker.StartConfig(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer b.Close()
		log.Info("embedded MQTT broker listening", "addr", b.Addr(), "logins", b.Auth())
		m.reg.MustRegister(brokerCounters{b})
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
	// Every InfluxDB write goes through w, which times it.
	w := &writer{w: st, m: m}
	schema, dead, err := openIngest(cfg)
	if err != nil {
		return err
	}
	late := &energyLate{} // written samples behind the energy engine are computed again
	gaps := ingest.NewGaps(ingest.GapOptions{FillWithin: cfg.Gaps.Window(), Lookup: ingest.InfluxLookup(st), Writer: w, Logger: log})
	wg.Go(func() { gaps.Run(ctx) })
	// The console, once made, notes when each gateway was last heard from
	// (its fleet page and alerts).
	var fleet atomic.Pointer[console.Console]
	observe := func(m *telemetry.Message) {
		gaps.Observe(m)
		if c := fleet.Load(); c != nil {
			c.Observe(m)
		}
	}
	cons := ingest.New(ingest.Options{
		Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID, Username: cfg.MQTT.Username,
		Password: os.Getenv(cfg.MQTT.PasswordEnv), ShareGroup: cfg.MQTT.ShareGroup, TLS: mqttTLS,
		MaxPoints: cfg.Batch.MaxPoints, Flush: cfg.Batch.Flush.Duration, Observe: late.observe(observe), Logger: log,
		Schema: schema, DeadLetters: dead, Known: cfg.KnownGateway,
	}, w)
	m.reg.MustRegister(&counters{c: cons, gaps: gaps, deadLetters: dead})
	var ui http.Handler // the auditor console, behind its login
	loggedIn := func(*http.Request) bool { return false }
	if cfg.Console.Enabled() {
		if cfg.HTTP.Listen == "" {
			return errors.New("console: users are configured but http.listen is not: set http.listen to serve the console")
		}
		var registered func(site, gateway string) bool // the console's status book keeps only these
		if len(cfg.Gateways) > 0 {
			registered = cfg.KnownGateway
		}
		con, err := console.New(console.Options{Store: st, Events: st, Config: cfg.Console, Energy: cfg.Energy, Logger: log, Version: version, Registered: registered,
			MQTT: console.MQTTOptions{Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID + "-console", Username: cfg.MQTT.Username, Password: os.Getenv(cfg.MQTT.PasswordEnv), TLS: mqttTLS}})
		if err != nil {
			return err
		}
		fleet.Store(con)
		wg.Go(func() { con.Run(ctx) })
		ui, loggedIn = con.Handler(), con.LoggedIn
	}
	if cfg.HTTP.Listen != "" {
		srv, err := serveHTTP(ctx, cfg.HTTP.Listen, ready(st, cons, log), ui, loggedIn, log)
		if err != nil {
			return err
		}
		wg.Go(func() { <-ctx.Done(); srv.Close() })
	}
	if report > 0 {
		wg.Go(func() { reportLoop(ctx, cons, cfg, report, log) })
	}
	if cfg.Energy != nil {
		if err := startEnergy(ctx, &wg, cfg, st, schema.Classes(), m, late, mqttTLS, log); err != nil {
			return err
		}
	}
	log.Info("collector started", "broker", cfg.MQTT.Broker, "influxdb", cfg.InfluxDB.URL, "bucket", cfg.InfluxDB.Bucket, "version", version)
	if err := sdnotify.Notify("READY=1"); err != nil {
		log.Warn("systemd notify", "error", err)
	}
	// Writes retry inside ingest until InfluxDB takes them, each call
	// bounded by the client's HTTP timeout: one that runs for two watchdog
	// periods means the collector is wedged, and systemd restarts it (the
	// broker keeps what was not acknowledged).
	beat := max(sdnotify.WatchdogInterval(), time.Second)
	wg.Go(func() { sdnotify.Watchdog(ctx, func() bool { return w.stuckFor() < 2*beat }) })
	err = cons.Run(ctx)
	sdnotify.Notify("STOPPING=1")
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
			"redelivered_total", c.Stats.Redelivered.Load(),
			"influxdb", cfg.InfluxDB.URL, "bucket", cfg.InfluxDB.Bucket)
		lastSamples = s
	}
}

// stallLimit is how long a telemetry batch may wait for InfluxDB before
// the collector reports itself not ready.
const stallLimit = 30 * time.Second

// ready is the readiness check: InfluxDB answers and no telemetry batch
// has waited past stallLimit (a writer that cannot write holds every
// message behind it). What is wrong goes to the log, and to a console
// user who is logged in, not to an anonymous prober (it names InfluxDB).
func ready(st *store.Store, c *ingest.Consumer, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		err := st.Ready(ctx)
		if err == nil {
			if d := c.Stalled(); d > stallLimit {
				err = fmt.Errorf("a telemetry batch has waited %s for InfluxDB", d.Round(time.Second))
			}
		}
		if err != nil {
			log.Warn("not ready", "error", err)
		}
		return err
	}
}

// serveHTTP serves the probes and the console; /metrics is on the metrics
// address (metrics.listen), which needs no login.
func serveHTTP(ctx context.Context, addr string, ready func(context.Context) error, ui http.Handler, loggedIn func(*http.Request) bool, log *slog.Logger) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r.Context()); err != nil {
			why := "the collector's log says why"
			if loggedIn(r) {
				why = err.Error()
			}
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if ui != nil {
		// Everything but the probes above needs a console login.
		mux.Handle("/", ui)
	}
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
