// Command loadgen plays N gateways against an MQTT broker for a bounded
// time, to measure a collector at province scale (make scale, see
// docs/scaling.md). Each gateway is its own MQTT client with its own
// login, publishes the wire format of gateway/telemetry — one boiler
// (szl-chain-grate-plc) every second and ten meters every 15 s, with seq,
// boot, a retained birth and last will, values from simulator/model's
// physics — forwards only while it hears a collector's heartbeat, and,
// for a share of the gateways, loses its link for a while and then
// replays the backlog with the original timestamps, as the gateway's disk
// queue does. It talks to loopback brokers only.
//
// With -collector-config it writes the collector config for the same
// gateways (registry, energy engine with every boiler and meter) and
// exits.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("loadgen", flag.ExitOnError)
	var f fleet
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "MQTT broker `URL` (loopback only)")
	fs.IntVar(&f.N, "n", 250, "number of `gateways`")
	fs.IntVar(&f.PerSite, "per-site", 10, "gateways per site: site s0001 has gateways g00001…g00010, and so on")
	duration := fs.Duration("duration", time.Minute, "how long to publish (at most 24h)")
	passwordEnv := fs.String("password-env", "", "environment `variable` holding the gateways' MQTT password; each logs in as site/gateway")
	outageShare := fs.Float64("outage-share", 0.05, "share of the gateways whose link drops once (0 disables)")
	outageAt := fs.Duration("outage-at", 20*time.Second, "when, after the start, their link drops")
	outageFor := fs.Duration("outage-for", 30*time.Second, "how long it stays down; the backlog is replayed after")
	stats := fs.String("stats", "", "write the final counts as JSON to this `file`")
	probe := fs.Int("probe", 0, "gateways that never go out, listed in the -stats file, for a lag probe to follow")
	collectorConfig := fs.String("collector-config", "", "write the collector config for the fleet to this `file` and exit")
	passwd := fs.String("passwd", "", "with -collector-config: also write each gateway's login (identity:password from -password-env) to this `file`, for mosquitto_passwd -U")
	engine := fs.Bool("engine", true, "with -collector-config: configure the energy engine for every boiler and meter (false: ingest and console only)")
	head := fs.String("collector-head", "", "with -collector-config: a YAML `file` with the collector's own sections (mqtt, influxdb, http, console, ingest), copied first")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: loadgen -broker URL -n N -duration D [flags]\n       loadgen -collector-config FILE -collector-head FILE -n N\n\nPlays N gateways over MQTT (see docs/scaling.md).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if f.N < 1 || f.N > 100000 || f.PerSite < 1 {
		fmt.Fprintln(os.Stderr, "loadgen: -n must be 1…100000 and -per-site at least 1")
		return 2
	}
	password := ""
	if *passwordEnv != "" {
		password = os.Getenv(*passwordEnv)
		if password == "" {
			fmt.Fprintf(os.Stderr, "loadgen: -password-env: %s is empty\n", *passwordEnv)
			return 2
		}
	}
	if *collectorConfig != "" {
		err := writeCollectorConfig(*collectorConfig, *head, f, time.Now().Truncate(time.Minute), *engine)
		if err == nil && *passwd != "" {
			err = writePasswords(*passwd, password, f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			return 1
		}
		return 0
	}
	if *duration <= 0 || *duration > 24*time.Hour {
		fmt.Fprintln(os.Stderr, "loadgen: -duration must be positive and at most 24h")
		return 2
	}
	if err := loopbackURL(*broker); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: -broker:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	p := player{
		fleet: f, broker: *broker, password: password, log: log,
		outageShare: *outageShare, outageAt: *outageAt, outageFor: *outageFor, probe: *probe,
	}
	writeStats := func(res result) error {
		if *stats == "" {
			return nil
		}
		data, _ := json.MarshalIndent(res, "", "  ")
		return os.WriteFile(*stats, append(data, '\n'), 0o644)
	}
	p.onPlan = writeStats
	res, err := p.run(ctx)
	if err == nil {
		log.Info("done", "gateways", f.N, "published", res.Published, "acked", res.Acked, "failed", res.Failed,
			"replayed", res.Replayed, "values", res.Values, "connect_errors", res.ConnectErrors)
		err = writeStats(res)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 1
	}
	return 0
}

// loopbackURL refuses a broker that is not on this machine: the load
// generator is a measurement tool, never pointed at a real broker.
func loopbackURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "tcp" && u.Scheme != "mqtt" {
		return fmt.Errorf("%q: want tcp://127.0.0.1:PORT", s)
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		if !strings.EqualFold(host, "localhost") {
			return errors.New("only a loopback broker (127.0.0.1) may be loaded")
		}
	}
	return nil
}
