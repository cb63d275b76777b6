// Command simulator serves simulated boilers and meters over Modbus TCP.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/simulator/sim"
)

func main() {
	fs := flag.NewFlagSet("simulator", flag.ExitOnError)
	configPath := fs.String("config", "simulator/scenarios/boiler-room.yaml", "scenario `file` (YAML)")
	record := fs.String("record", "", "append every served read (device, point, time, raw and value) to this JSON-lines `file`")
	listProfiles := fs.Bool("list-profiles", false, "list the device profiles it can emulate and exit")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: simulator -config SCENARIO [flags]\n\nServes the scenario's boilers and meters over Modbus TCP.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "simulator: -log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *listProfiles {
		lib, err := fwconfig.LoadLibrary()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, n := range lib.Names() {
			p := lib[n]
			fmt.Printf("%-24s %-18s %s %s, %d points\n", n, p.Class, p.Manufacturer, p.Model, len(p.Points))
		}
		return
	}
	sc, err := sim.LoadScenario(*configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var rec *sim.Recorder
	if *record != "" {
		if rec, err = sim.NewRecorder(*record); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	s, err := sim.New(sc, rec, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := s.Listen(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s.Describe(os.Stdout)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = s.Run(ctx)
	if rec != nil {
		if cerr := rec.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		log.Error("simulator stopped", "error", err)
		os.Exit(1)
	}
}
