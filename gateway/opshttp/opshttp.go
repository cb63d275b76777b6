// Package opshttp serves what an operator's tooling asks of a running
// gateway or collector, outside any login: Prometheus /metrics, /healthz
// (the process answers), /readyz and /loglevel.
package opshttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/boilerwatch/boilerwatch/gateway/loglevel"
)

// Serve listens on addr and serves until the returned server is closed.
// metrics answers /metrics; it is a handler, not a registry, so that the
// gateway can serve its own small registry without linking client_golang.
// ready, when not nil, decides /readyz (an error answers 503 with it);
// without it /readyz answers ready whenever the process serves.
func Serve(ctx context.Context, addr string, metrics http.Handler, ready func() error, level *slog.LevelVar, log *slog.Logger) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("/loglevel", loglevel.Handler(level, log))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "error", err)
		}
	}()
	return srv, nil
}
