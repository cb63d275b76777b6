// Command gateway polls Modbus devices and publishes their readings to MQTT.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/plan"
	"github.com/boilerwatch/boilerwatch/gateway/poll"
	"github.com/boilerwatch/boilerwatch/gateway/publish"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	fs := flag.NewFlagSet("gateway", flag.ExitOnError)
	configPath := fs.String("config", "/etc/boilerwatch/gateway.yaml", "gateway configuration `file` (YAML)")
	printPlan := fs.Bool("plan", false, "print each device's Modbus requests and the round trips per cycle, then exit")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	logJSON := fs.Bool("log-json", false, "log as JSON lines instead of text")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gateway -config FILE [flags]\n\nPolls the Modbus devices of the config and publishes each poll to MQTT.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if *showVersion {
		fmt.Println("gateway", version)
		return
	}
	log, err := newLogger(*logLevel, *logJSON)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(2)
	}
	cfg, err := fwconfig.LoadGateway(*configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *printPlan {
		total := 0
		for _, d := range cfg.Devices {
			reqs := plan.Build(d.Spec.Points, poll.PlanOptions())
			plan.Print(os.Stdout, d.Name, reqs)
			total += len(reqs)
		}
		fmt.Printf("total: %d round trips per cycle\n", total)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("gateway stopped", "error", err)
		os.Exit(1)
	}
}

func newLogger(level string, asJSON bool) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: %w", level, err)
	}
	o := &slog.HandlerOptions{Level: l}
	if asJSON {
		return slog.New(slog.NewJSONHandler(os.Stderr, o)), nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, o)), nil
}

func newBootID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// pending bounds the samples held in memory while the broker is unreachable.
const pending = 10000

func run(ctx context.Context, cfg *fwconfig.Gateway, log *slog.Logger) error {
	seq, err := publish.OpenSequence(cfg.Queue.Dir)
	if err != nil {
		return err
	}
	boot := newBootID()
	log = log.With("gateway", cfg.Gateway, "boot", boot)

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	site := poll.NewSite(cfg, poll.SiteOptions{}, log)
	pub := publish.Connect(publish.Options{
		Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID, Username: cfg.MQTT.Username,
		Password: os.Getenv(cfg.MQTT.PasswordEnv), KeepAlive: cfg.MQTT.KeepAlive,
		Site: cfg.Site, Gateway: cfg.Gateway, Boot: boot, Version: version,
		ConfigVersion: strconv.Itoa(cfg.Version), Seq: seq, Devices: site.States, Logger: log,
	})
	defer pub.Close()

	samples := make(chan telemetry.Sample, pending)
	wg.Go(func() {
		site.Run(ctx, func(s telemetry.Sample) {
			select {
			case samples <- s:
			default:
				log.Error("sample dropped: publish backlog full", "device", s.Device, "ts", s.TS, "backlog", pending)
			}
		})
	})
	log.Info("gateway started", "devices", len(site.Devices), "buses", site.Buses(), "broker", cfg.MQTT.Broker, "version", version)
	for {
		select {
		case <-ctx.Done():
			log.Info("gateway stopping")
			return nil
		case s := <-samples:
			n, err := seq.Next()
			if err != nil {
				return err
			}
			m := &telemetry.Message{V: telemetry.Version, Site: cfg.Site, Gateway: cfg.Gateway, Seq: n, Boot: boot, Samples: []telemetry.Sample{s}}
			if err := pub.PublishMessage(ctx, m); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			log.Debug("published", "seq", n, "device", s.Device, "ts", s.TS)
		}
	}
}
