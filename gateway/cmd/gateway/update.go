package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/remote"
	"github.com/boilerwatch/boilerwatch/gateway/update"
)

// bootUpdate takes up a software update on trial before anything else can
// fail (README "Remote software update"): a new binary that dies reading
// its config is rolled back at its next start. It exits with
// update.ExitRestart when it rolled back, so the service manager starts
// the previous binary. Without an executable path it returns nil.
func bootUpdate(healthyWithin time.Duration, log *slog.Logger) (*update.Updater, *update.Trial) {
	exe, err := os.Executable()
	if err != nil {
		log.Warn("software updates off: executable path unknown", "error", err)
		return nil, nil
	}
	up, err := update.New(update.Options{Executable: exe, Running: version, Target: runtime.GOOS + "/" + runtime.GOARCH,
		HealthyWithin: healthyWithin, Log: log})
	if err != nil {
		log.Error("software updates off", "error", err)
		return nil, nil
	}
	tr, err := up.Boot()
	if errors.Is(err, update.ErrRestart) {
		os.Exit(update.ExitRestart)
	}
	if err != nil {
		log.Error("software update trial", "error", err)
	}
	return up, tr
}

// runUpdateGuard is gateway -update-guard EXE, run by the service manager
// from EXE.prev before each start of EXE (the systemd drop-in's
// ExecStartPre): a new binary that dies before its main runs never takes
// up its trial, so the previous binary, known to run here, counts its
// starts and rolls it back (update.Guard). A flag rather than a
// subcommand: a previous binary from before the guard stops at the
// unknown flag (exit 2) instead of running as a second gateway.
func runUpdateGuard(exe string, healthyWithin time.Duration, log *slog.Logger) int {
	up, err := update.New(update.Options{Executable: exe, Running: version, Target: runtime.GOOS + "/" + runtime.GOARCH,
		HealthyWithin: healthyWithin, Log: log})
	if err != nil {
		log.Error("update guard", "error", err)
		return 1
	}
	switch err := up.Guard(); {
	case errors.Is(err, update.ErrRestart):
		log.Warn("update guard rolled back: the previous gateway binary starts", "executable", exe)
	case err != nil:
		log.Error("update guard", "error", err)
		return 1
	}
	return 0
}

// listenUpdates returns the announcement handler, or nil when updates are
// off: no updater, or no remote_config.public_key to verify releases with.
func listenUpdates(up *update.Updater, tr *update.Trial, cfg *fwconfig.Gateway, healthy func() bool) (*update.Announcements, error) {
	if up == nil || cfg.Remote.PublicKey == "" {
		return nil, nil
	}
	key, err := remote.LoadKey(cfg)
	if err != nil {
		return nil, fmt.Errorf("software updates: %w", err)
	}
	up.SetKey(key)
	return up.Listen(cfg.Site, cfg.Gateway, tr, healthy), nil
}
