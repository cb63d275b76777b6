// Command simulator serves simulated boilers and meters over Modbus TCP,
// RTU over TCP and RTU on serial lines, with faults injected from the
// scenario or at run time through a loopback HTTP control API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/simulator/sim"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("simulator", flag.ExitOnError)
	configPath := fs.String("config", "simulator/scenarios/boiler-room.yaml", "scenario `file` (YAML)")
	record := fs.String("record", "", "write every served read (device, point, time, raw and value) to this JSON-lines `file`")
	listProfiles := fs.Bool("list-profiles", false, "list the device profiles it can emulate and exit")
	control := fs.String("control", "", "serve the fault-injection HTTP API on this loopback `address` (e.g. 127.0.0.1:8502); see docs/simulator.md")
	truthPath := fs.String("truth", "", "write the ground truth (each boiler's and counter's true output, consumption and efficiency per simulated minute) to this JSON-lines `file`")
	anchor := fs.String("anchor", "", "RFC 3339 real `time` at which simulated time is the scenario's start: sim time = start + (real − anchor) × acceleration (give a gateway the same -clock)")
	catchUp := fs.Bool("catch-up", false, "simulated time never runs ahead of real time: an accelerated run from a start in the past fills the history up to now, then continues in real time (give a gateway -clock ...,catch_up=true)")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: simulator -config SCENARIO [flags]\n\nServes the scenario's boilers and meters over Modbus TCP, RTU over TCP or RTU\n(serial device or pseudo-terminal), and injects the faults it describes.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "simulator: -log-level %q: %v\n", *logLevel, err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *listProfiles {
		lib, err := profile.LoadLibrary()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		for _, n := range lib.Names() {
			p := lib[n]
			fmt.Printf("%-24s %-18s %s %s, %d points\n", n, p.Class, p.Manufacturer, p.Model, len(p.Points))
		}
		return 0
	}
	var controlLn net.Listener
	if *control != "" {
		// The API has no authentication: it must not be reachable from
		// the network.
		host, _, err := net.SplitHostPort(*control)
		ip := net.ParseIP(host)
		if err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			fmt.Fprintf(os.Stderr, "simulator: -control %q: want a loopback host:port such as 127.0.0.1:8502 (the API has no authentication)\n", *control)
			return 2
		}
		if controlLn, err = net.Listen("tcp", *control); err != nil {
			fmt.Fprintf(os.Stderr, "simulator: -control: %v\n", err)
			return 1
		}
	}
	sc, err := sim.LoadScenario(*configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var rec *sim.Recorder
	if *record != "" {
		if rec, err = sim.NewRecorder(*record); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	s, err := sim.New(sc, rec, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *anchor != "" {
		at, err := time.Parse(time.RFC3339Nano, *anchor)
		if err != nil {
			fmt.Fprintf(os.Stderr, "simulator: -anchor %q: want an RFC 3339 time\n", *anchor)
			return 2
		}
		s.SetAnchor(at)
	}
	s.SetCatchUp(*catchUp)
	var truth *sim.Truth
	if *truthPath != "" {
		if truth, err = sim.NewTruth(*truthPath); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		s.SetTruth(truth)
	}
	if err := s.Listen(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s.Describe(os.Stdout)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	if controlLn != nil {
		fmt.Printf("control API: http://%s/devices\n", controlLn.Addr())
		wg.Go(func() {
			if err := s.ServeControl(ctx, controlLn); err != nil {
				cancel(err)
			}
		})
	}
	err = s.Run(ctx)
	if cerr := context.Cause(ctx); err == nil && cerr != nil && !errors.Is(cerr, context.Canceled) {
		err = cerr
	}
	cancel(nil)
	wg.Wait()
	if rec != nil {
		if cerr := rec.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if truth != nil {
		if cerr := truth.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		log.Error("simulator stopped", "error", err)
		return 1
	}
	return 0
}
