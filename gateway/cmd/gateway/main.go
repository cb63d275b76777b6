// Command gateway polls Modbus devices and publishes their readings to MQTT.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
	"github.com/boilerwatch/boilerwatch/gateway/dirlock"
	"github.com/boilerwatch/boilerwatch/gateway/opshttp"
	"github.com/boilerwatch/boilerwatch/gateway/plan"
	"github.com/boilerwatch/boilerwatch/gateway/poll"
	"github.com/boilerwatch/boilerwatch/gateway/publish"
	"github.com/boilerwatch/boilerwatch/gateway/queue"
	"github.com/boilerwatch/boilerwatch/gateway/remote"
	"github.com/boilerwatch/boilerwatch/gateway/sdnotify"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
	"github.com/boilerwatch/boilerwatch/gateway/update"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) > 1 {
		if sub, ok := subcommands[os.Args[1]]; ok { // gateway read, gateway scan (commission.go)
			os.Exit(sub(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	fs := flag.NewFlagSet("gateway", flag.ExitOnError)
	configPath := fs.String("config", "/etc/boilerwatch/gateway.yaml", "gateway configuration `file` (YAML)")
	printPlan := fs.Bool("plan", false, "print each device's Modbus requests per poll group, the round trips per cycle and per minute, then exit")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	logJSON := fs.Bool("log-json", false, "log as JSON lines instead of text")
	showVersion := fs.Bool("version", false, "print the version and exit")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics (queue, delivery) on this `address`, e.g. 127.0.0.1:9101; empty: off")
	drainFor := fs.Duration("drain", 10*time.Second, "on SIGTERM, stop polling and keep sending the queue for up to this `long`; what is left is sent at the next start")
	healthyWithin := fs.Duration("update-healthy-within", 2*time.Minute, "a new binary installed by a software update must be connected and polling within this `long`, or the previous one comes back")
	guardExe := fs.String("update-guard", "", "check the software update trial of the gateway `executable` before it starts, then exit: run from its previous binary (EXE.prev) before each start, it counts the start of a new binary on trial and rolls it back if it started before without becoming healthy (README \"Remote software update\")")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this `file` until the gateway stops (go tool pprof; docs/performance.md); empty: off")
	clock := fs.String("clock", "", "stamp samples in simulated time for accelerated simulator runs: `anchor=RFC3339,start=RFC3339,rate=N[,catch_up=true]` (sim time = start + (real − anchor) × rate; catch_up: never past real time)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gateway -config FILE [flags]\n%s\nPolls the Modbus devices of the config and publishes each poll to MQTT.\n\nFlags:\n", subcommandUsage)
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	setMaxProcs(os.LookupEnv)
	if *showVersion {
		fmt.Println("gateway", version)
		return
	}
	log, level, err := newLogger(*logLevel, *logJSON)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(2)
	}
	if *guardExe != "" {
		os.Exit(runUpdateGuard(*guardExe, *healthyWithin, log))
	}
	var up *update.Updater
	var trial *update.Trial
	if !*printPlan {
		up, trial = bootUpdate(*healthyWithin, log)
	}
	cfg, err := fwconfig.LoadGateway(*configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Holes devices showed before (exception 2 for a bridged read): planned
	// around from the first poll, and printed by -plan.
	learned, err := plan.LoadLearned(plan.LearnedPath(cfg.Queue.Dir))
	if err != nil {
		if *printPlan {
			fmt.Fprintln(os.Stderr, "gateway:", err)
		} else {
			log.Warn("learned holes not read", "error", err)
		}
	}
	if *printPlan {
		plan.PrintSiteLearned(os.Stdout, cfg, learned)
		return
	}
	stamp, err := parseClock(*clock)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(2)
	}
	// One gateway per queue directory: a second one would continue the
	// first's sequence numbers. The kernel frees the lock of a dead process.
	lock, err := dirlock.Acquire(cfg.Queue.Dir, "queue directory")
	if err != nil {
		log.Error("gateway not started", "error", err)
		os.Exit(1)
	}
	defer lock.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile := func() {}
	if *cpuProfile != "" {
		if stopProfile, err = startCPUProfile(*cpuProfile); err != nil {
			log.Error("gateway not started", "error", err)
			os.Exit(1)
		}
	}
	err = run(ctx, cfg, poll.SiteOptions{Stamp: stamp, Learned: learned}, log,
		runOptions{metrics: *metricsAddr, drain: *drainFor, level: level, update: up, trial: trial})
	stopProfile() // before any exit below
	if errors.Is(err, update.ErrRestart) {
		// The queue is closed; the lock goes before the new binary starts.
		lock.Close()
		log.Warn("gateway restarting into another binary", "exit", update.ExitRestart)
		os.Exit(update.ExitRestart)
	}
	if err != nil {
		log.Error("gateway stopped", "error", err)
		os.Exit(1)
	}
}

// newLogger returns the logger and its level, which PUT /loglevel on the
// metrics address changes while the gateway runs.
func newLogger(level string, asJSON bool) (*slog.Logger, *slog.LevelVar, error) {
	lv := new(slog.LevelVar)
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("-log-level %q: %w", level, err)
	}
	lv.Set(l)
	o := &slog.HandlerOptions{Level: lv}
	if asJSON {
		return slog.New(slog.NewJSONHandler(os.Stderr, o)), lv, nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, o)), lv, nil
}

func newBootID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// pending bounds the samples waiting to be queued; only a stalled disk
// fills it, since appending takes microseconds.
const pending = 10000

// run polls the devices, appends every sample to the disk queue and
// forwards the queue to the broker; see docs/delivery.md.
func run(ctx context.Context, cfg *fwconfig.Gateway, siteOpts poll.SiteOptions, log *slog.Logger, ro runOptions) error {
	started := time.Now()
	// A software update stops polling as SIGTERM does, then run returns
	// update.ErrRestart.
	ctx, restart := context.WithCancelCause(ctx)
	defer restart(nil)
	boot := newBootID()
	log = log.With("gateway", cfg.Gateway, "boot", boot)
	q, err := queue.Open(queue.Options{
		Dir: cfg.Queue.Dir, MaxBytes: cfg.Queue.MaxBytes.Bytes,
		SyncEvery: cfg.Queue.Fsync.Window.Duration, SyncRecords: cfg.Queue.FsyncRecords, SyncAlways: cfg.Queue.Fsync.Always,
		WriteBehind: cfg.Queue.WriteBehind.Window.Duration, Logger: log,
	})
	if err != nil {
		return err
	}
	defer q.Close() // after every goroutine below has stopped

	var wg sync.WaitGroup
	defer wg.Wait()
	// Polling stops with ctx; forwarding goes on until the queue is drained
	// (or ro.drain passes), so a planned stop leaves nothing behind.
	fctx, stopForwarding := context.WithCancel(context.Background())
	defer stopForwarding()

	m := newMetrics()
	var pollsSeen atomic.Bool // a new binary on trial is healthy once connected and polling
	siteOpts.OnPoll = func(device string, took time.Duration) {
		pollsSeen.Store(true)
		m.observePoll(device, took)
	}
	siteOpts.OnReadError = m.observeReadError
	var pub *publish.Publisher // set before any device polls
	// A device's new state goes out in the status at once, not at the next
	// minute's republish.
	siteOpts.OnStateChange = func(string, telemetry.DeviceState) { pub.StatusChanged() }
	site := poll.NewSite(cfg, siteOpts, log)
	// sites runs the site and, with remote_config, swaps it for pushed
	// configs (gateway/remote).
	sites, err := remote.New(cfg, site, remote.Options{
		NewSite:   func(c *fwconfig.Gateway) remote.Site { return poll.NewSite(c, siteOpts, log) },
		OnVersion: func(v int) { pub.SetConfigVersion(strconv.Itoa(v)) },
		Log:       log,
	})
	if err != nil {
		return err
	}
	mq := cfg.MQTT
	tlsConf, err := conf.ClientTLS(mq.Broker, mq.CAFile, mq.CertFile, mq.KeyFile)
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	updates, err := listenUpdates(ro.update, ro.trial, cfg, func() bool { return pub.Connected() && pollsSeen.Load() })
	if err != nil {
		return err
	}
	var onConnect func(*publish.Link) error
	if sites.Enabled() || updates != nil {
		onConnect = func(l *publish.Link) error {
			if sites.Enabled() {
				if err := sites.OnConnect(l); err != nil {
					return err
				}
			}
			if updates != nil {
				return updates.OnConnect(l)
			}
			return nil
		}
	}
	pub = publish.New(publish.Options{
		TLS: tlsConf, OnConnect: onConnect,
		Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID, Username: cfg.MQTT.Username,
		Password: os.Getenv(cfg.MQTT.PasswordEnv), KeepAlive: cfg.MQTT.KeepAlive.Duration,
		Site: cfg.Site, Gateway: cfg.Gateway, Boot: boot, Version: version,
		ConfigVersion: strconv.Itoa(cfg.Version), LastSeq: q.LastSeq, Devices: sites.States,
		ConfigApplied:    configApplied(cfg.File, started),
		Queue:            func() *telemetry.QueueStatus { return queueStatus(q, log) },
		WaitForCollector: cfg.Queue.WaitForCollector, Logger: log,
		Started: started, Clock: clockState,
	})
	fwd := publish.NewForwarder(q, publish.ForwardOptions{ReplayRate: cfg.Queue.ReplayRate, OnAck: m.observeAck, Logger: log})
	m.reg.MustRegister(&state{q: q, f: fwd, pub: pub, version: version, devices: func() []*poll.Device {
		// A pushed config swaps the site (gateway/remote).
		return sites.Site().(*poll.Site).Devices
	}})
	if updates != nil {
		wg.Go(func() {
			if err := updates.Run(ctx); err != nil {
				restart(err)
			}
		})
	}
	links := make(chan publish.Sender)
	wg.Go(func() { pub.Run(fctx, links) })
	wg.Go(func() { fwd.Run(fctx, links) })

	// The queue is open from here until run returns, and the metrics server
	// stops before that: ready only needs the broker.
	ready := func() error {
		if !pub.Connected() {
			return errors.New("not connected to the MQTT broker")
		}
		return nil
	}
	if ro.metrics != "" {
		srv, err := opshttp.Serve(fctx, ro.metrics, m.reg, ready, ro.level, log)
		if err != nil {
			return err
		}
		wg.Go(func() { <-fctx.Done(); srv.Close() })
	}
	// The watchdog pings systemd while the main loop below goes round: it
	// wakes at least every beat, so two beats without a turn mean it is
	// stuck (e.g. in a disk write that never returns).
	beat := max(sdnotify.WatchdogInterval(), time.Second)
	var turned atomic.Int64
	turned.Store(time.Now().UnixNano())
	wg.Go(func() {
		sdnotify.Watchdog(fctx, func() bool { return time.Since(time.Unix(0, turned.Load())) < 2*beat })
	})
	ticker := time.NewTicker(beat)
	defer ticker.Stop()

	samples := make(chan telemetry.Sample, pending)
	polled := make(chan struct{})
	wg.Go(func() {
		defer close(polled)
		sites.Run(ctx, func(s telemetry.Sample) {
			select {
			case samples <- s:
			default:
				m.samplesDropped.Inc()
				log.Error("sample dropped: queue not keeping up", "device", s.Device, "ts", s.TS, "waiting", pending)
			}
		})
	})
	// One encoder and one message for every sample: the queue copies the
	// payload, and the sample's map goes back to the poller, so nothing is
	// allocated per sample here.
	var enc telemetry.Encoder
	msg := telemetry.Message{V: telemetry.Version, Site: cfg.Site, Gateway: cfg.Gateway, Boot: boot, Samples: make([]telemetry.Sample, 1)}
	enqueue := func(s telemetry.Sample) {
		seq, err := q.Append(func(seq uint64) ([]byte, error) {
			msg.Seq, msg.Samples[0] = seq, s
			return enc.Encode(&msg), nil
		})
		msg.Samples[0] = telemetry.Sample{}
		poll.Recycle(s)
		if err != nil {
			// Counted as lost by the queue; the number is used, so the
			// collector reports the gap.
			log.Error("sample not queued", "seq", seq, "device", s.Device, "ts", s.TS, "error", err)
			return
		}
		// The chaos test reads these lines to know what must arrive.
		// Checked first: the arguments would cost allocations per sample.
		if log.Enabled(ctx, slog.LevelDebug) {
			log.Debug("queued", "seq", seq, "device", s.Device, "ts", s.TS)
		}
	}
	log.Info("gateway started", "devices", len(site.Devices), "buses", site.Buses(), "broker", cfg.MQTT.Broker, "gomaxprocs", runtime.GOMAXPROCS(0),
		"version", version, "queue", cfg.Queue.Dir, "write_behind", cfg.Queue.WriteBehind.Window.Duration, "replay_rate", cfg.Queue.ReplayRate)
	if err := sdnotify.Notify("READY=1"); err != nil {
		log.Warn("systemd notify", "error", err)
	}
	for {
		turned.Store(time.Now().UnixNano())
		select {
		case <-ticker.C:
		case <-ctx.Done():
			sdnotify.Notify("STOPPING=1")
			// Polls that completed while stopping are queued, not dropped.
			<-polled
			for len(samples) > 0 {
				enqueue(<-samples)
			}
			unsent := drain(q, ro.drain)
			log.Info("gateway stopping", "unsent", unsent)
			if err := context.Cause(ctx); errors.Is(err, update.ErrRestart) {
				return err
			}
			return nil
		case s := <-samples:
			enqueue(s)
		}
	}
}

// runOptions are the command-line settings of run.
type runOptions struct {
	metrics string          // -metrics address
	drain   time.Duration   // -drain
	level   *slog.LevelVar  // changed by PUT /loglevel
	update  *update.Updater // nil: software updates off
	trial   *update.Trial   // this binary's update trial, if it is on one
}

// drain waits until the broker acknowledged every queued record, or d
// passes; it returns what is still queued (sent at the next start).
func drain(q *queue.Queue, d time.Duration) uint64 {
	deadline := time.Now().Add(d)
	for {
		n := q.Stats().Pending
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// queueStatus is the queue's part of the status: its counters and the
// stamp of the oldest sample still waiting.
func queueStatus(q *queue.Queue, log *slog.Logger) *telemetry.QueueStatus {
	st := q.Stats()
	qs := &telemetry.QueueStatus{
		Pending: st.Pending, Bytes: st.Bytes, Dropped: st.Dropped, Lost: st.Lost,
		Damaged: st.Damaged, Quarantined: st.Quarantined,
	}
	if st.Pending == 0 {
		return qs
	}
	rec, ok, err := q.Oldest()
	if err != nil {
		log.Warn("oldest queued record not read", "error", err)
	}
	if ok {
		qs.OldestTS = oldestStamp(rec.Payload)
	}
	return qs
}

// oldestStamp is the earliest sample stamp of a queued telemetry message,
// 0 if it has none.
func oldestStamp(payload []byte) int64 {
	var m struct {
		Samples []struct {
			TS int64 `json:"ts"`
		} `json:"samples"`
	}
	if json.Unmarshal(payload, &m) != nil {
		return 0
	}
	var oldest int64
	for _, s := range m.Samples {
		if s.TS > 0 && (oldest == 0 || s.TS < oldest) {
			oldest = s.TS
		}
	}
	return oldest
}

// configApplied is when the config the gateway starts with was applied:
// when its file was last written (by hand or by a push), or the start if
// that is later or unknown.
func configApplied(file string, started time.Time) time.Time {
	fi, err := os.Stat(file)
	if err != nil || fi.ModTime().After(started) {
		return started
	}
	return fi.ModTime()
}
