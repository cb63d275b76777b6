package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
)

// TestServeOpsPprof: the profiler is on the metrics address only with
// metrics.pprof; the other routes answer either way.
func TestServeOpsPprof(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "up 1\n") })
	for _, on := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		srv, err := serveOps(context.Background(), addr, metrics, on, new(slog.LevelVar), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"/metrics": 200, "/healthz": 200, "/readyz": 200, "/loglevel": 200, "/debug/pprof/": 404, "/debug/pprof/heap": 404}
		if on {
			want["/debug/pprof/"], want["/debug/pprof/heap"] = 200, 200
		}
		for path, code := range want {
			resp, err := http.Get("http://" + addr + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != code {
				t.Errorf("pprof %t: GET %s: %d, want %d", on, path, resp.StatusCode, code)
			}
		}
		srv.Close()
	}
}
