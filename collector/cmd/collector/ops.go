package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/boilerwatch/boilerwatch/gateway/loglevel"
	"github.com/boilerwatch/boilerwatch/gateway/opshttp"
)

// serveOps serves the metrics address: opshttp's /metrics, /healthz,
// /readyz and /loglevel, and with metrics.pprof Go's profiler under
// /debug/pprof/ beside them (e.g. go tool pprof
// http://127.0.0.1:9102/debug/pprof/profile?seconds=10).
func serveOps(ctx context.Context, addr string, metrics http.Handler, withPprof bool, level *slog.LevelVar, log *slog.Logger) (*http.Server, error) {
	if !withPprof {
		return opshttp.Serve(ctx, addr, metrics, nil, level, log)
	}
	// The same routes as opshttp.Serve, plus the profiler.
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ready") })
	mux.Handle("/loglevel", loglevel.Handler(level, log))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	// No WriteTimeout: a CPU profile or trace streams for its seconds.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "error", err)
		}
	}()
	log.Warn("pprof served on the metrics address (metrics.pprof): no login, keep it on loopback", "addr", addr)
	return srv, nil
}
