// Command demo runs the whole pipeline on one machine — InfluxDB, the
// simulator, a collector with its embedded broker and a gateway — and prints
// what arrives in InfluxDB until Ctrl-C, which stops everything it started.
//
// Run it from the repository root with `make demo`, which builds bin/ and
// .deps/bin/influxd first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/store"
)

func main() {
	every := flag.Duration("every", 5*time.Second, "how often to print what InfluxDB holds")
	duration := flag.Duration("duration", 0, "stop by itself after this long (0: run until Ctrl-C)")
	flag.Parse()
	if err := run(*every, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

func start(name, logDir string, args ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(logDir, filepath.Base(name)+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: Ctrl-C reaches us, and we stop the children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: filepath.Base(name), cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	fmt.Printf("started %-10s pid %d, log %s\n", p.name, cmd.Process.Pid, logf.Name())
	return p, nil
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	fmt.Printf("stopped %s\n", p.name)
}

func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing listens on %s after %s", addr, timeout)
}

func run(every, duration time.Duration) error {
	// SIGHUP (terminal closed) and SIGPIPE (output piped to a program that
	// quit) also stop the demo cleanly instead of killing it mid-way.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	logDir := ".deps/demo/logs"
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	var procs []*proc
	defer func() {
		// Stop in reverse: the gateway first, InfluxDB last.
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop()
		}
	}()
	steps := []struct {
		bin  string
		args []string
		addr string
	}{
		{".deps/bin/influxd", []string{"-config", "deploy/demo/influxdb.conf"}, "127.0.0.1:18086"},
		{"bin/simulator", []string{"-config", "simulator/scenarios/boiler-room.yaml"}, "127.0.0.1:5020"},
		{"bin/collector", []string{"-config", "deploy/demo/collector.yaml"}, "127.0.0.1:11883"},
		{"bin/gateway", []string{"-config", "deploy/demo/gateway.yaml"}, ""},
	}
	for _, s := range steps {
		p, err := start(s.bin, logDir, s.args...)
		if err != nil {
			return err
		}
		procs = append(procs, p)
		if s.addr != "" {
			if err := waitTCP(ctx, s.addr, 60*time.Second); err != nil {
				return fmt.Errorf("%s: %w (see %s/%s.log)", p.name, err, logDir, p.name)
			}
		}
	}
	st := store.Open(store.Config{URL: "http://127.0.0.1:18086", Bucket: "boilerwatch/autogen"})
	defer st.Close()
	began := time.Now()
	fmt.Printf("\nPipeline running. Data: InfluxDB http://127.0.0.1:18086, bucket boilerwatch/autogen. Ctrl-C stops everything.\n\n")
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Println("\nstopping...")
			return nil
		case <-t.C:
		}
		for _, p := range procs {
			select {
			case err := <-p.done:
				p.done <- err
				return fmt.Errorf("%s exited (%v); see %s/%s.log", p.name, err, logDir, p.name)
			default:
			}
		}
		line, err := summary(ctx, st, began)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				continue
			}
			line = "InfluxDB query failed: " + err.Error()
		}
		fmt.Printf("%s  %s\n", time.Now().Format("15:04:05"), line)
	}
}

// summary counts the samples written since the demo started and shows the
// latest boiler reading, straight from InfluxDB with Flux.
func summary(ctx context.Context, st *store.Store, since time.Time) (string, error) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	flux := fmt.Sprintf(`from(bucket: "boilerwatch/autogen")
  |> range(start: %s)
  |> filter(fn: (r) => r._field == "_seq")
  |> group(columns: ["_measurement", "device"])
  |> count()`, since.UTC().Format(time.RFC3339))
	res, err := st.Query(qctx, flux)
	if err != nil {
		return "", err
	}
	counts := map[string]int64{}
	total := int64(0)
	for res.Next() {
		n, _ := res.Record().Value().(int64)
		counts[fmt.Sprint(res.Record().ValueByKey("device"))] += n
		total += n
	}
	res.Close()
	var parts []string
	for d, n := range counts {
		parts = append(parts, fmt.Sprintf("%s %d", d, n))
	}
	sort.Strings(parts)
	latest := ""
	res, err = st.Query(qctx, `from(bucket: "boilerwatch/autogen") |> range(start: -1m)
  |> filter(fn: (r) => r._measurement == "boiler" and (r._field == "steam_flow" or r._field == "o2" or r._field == "exhaust_temp" or r._field == "coal_feed"))
  |> last()`)
	if err == nil {
		vals := map[string]any{}
		for res.Next() {
			vals[res.Record().Field()] = res.Record().Value()
		}
		res.Close()
		if len(vals) > 0 {
			latest = fmt.Sprintf("; boiler1 now: steam %v t/h, coal %v t/h, O2 %v %%, exhaust %v °C", vals["steam_flow"], vals["coal_feed"], vals["o2"], vals["exhaust_temp"])
		}
	}
	return fmt.Sprintf("%d samples written to InfluxDB (%s)%s", total, strings.Join(parts, ", "), latest), nil
}
