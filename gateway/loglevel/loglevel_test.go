package loglevel

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	var v slog.LevelVar
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: &v}))
	srv := httptest.NewServer(Handler(&v, log))
	defer srv.Close()
	tests := []struct {
		method, body string
		status       int
		reply        string
		level        slog.Level
	}{
		{http.MethodGet, "", 200, "info", slog.LevelInfo},
		{http.MethodPut, "debug\n", 200, "debug", slog.LevelDebug},
		{http.MethodPut, "WARN", 200, "warn", slog.LevelWarn},
		{http.MethodPut, "loud", 400, "want debug", slog.LevelWarn},
		{http.MethodDelete, "", 405, "use GET or PUT", slog.LevelWarn},
		{http.MethodPut, "info", 200, "info", slog.LevelInfo},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, srv.URL, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.reply) {
			t.Errorf("%s %q: %d %q, want %d containing %q", tc.method, tc.body, resp.StatusCode, body, tc.status, tc.reply)
		}
		if v.Level() != tc.level {
			t.Errorf("%s %q: level %v, want %v", tc.method, tc.body, v.Level(), tc.level)
		}
	}
	if !strings.Contains(logs.String(), "log level changed") {
		t.Errorf("the change was not logged: %q", logs.String())
	}
}
