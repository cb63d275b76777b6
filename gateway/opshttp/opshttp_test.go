package opshttp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
)

// freeAddr returns a loopback address with a port free a moment ago:
// Serve does not tell the address it listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestServe(t *testing.T) {
	t.Parallel()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "up 1\n") })
	// The server's goroutines read it; a socket is no happens-before
	// edge for the race detector.
	var notReady atomic.Bool
	ready := func() error {
		if notReady.Load() {
			return errors.New("broker down")
		}
		return nil
	}
	addr := freeAddr(t)
	var level slog.LevelVar
	srv, err := Serve(context.Background(), addr, metrics, ready, &level, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := "http://" + addr
	tests := []struct {
		name, method, path string
		notReady           bool
		code               int
		body               string
	}{
		{"metrics from the handler", "GET", "/metrics", false, 200, "up 1\n"},
		{"healthz", "GET", "/healthz", false, 200, "ok\n"},
		{"ready", "GET", "/readyz", false, 200, "ready\n"},
		{"not ready", "GET", "/readyz", true, 503, "broker down\n"},
		{"metrics only for GET", "POST", "/metrics", false, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			notReady.Store(tt.notReady)
			req, _ := http.NewRequest(tt.method, base+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code || tt.body != "" && string(b) != tt.body {
				t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, b, tt.code, tt.body)
			}
		})
	}
}
