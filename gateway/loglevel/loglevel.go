// Package loglevel lets an operator change a running process's log level
// over HTTP (PUT /loglevel with "debug", "info", "warn" or "error"), so a
// misbehaving gateway can be inspected without a restart that would hide
// the problem. Gateway and collector serve it on their metrics address.
package loglevel

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// Handler serves GET (the current level) and PUT (a new level, the body) on
// v. Changes are logged at warn, so they show at any level.
func Handler(v *slog.LevelVar, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
		case http.MethodPut, http.MethodPost:
			body, err := io.ReadAll(io.LimitReader(r.Body, 64))
			if err != nil {
				http.Error(w, fmt.Sprintf("reading the level: %v", err), http.StatusBadRequest)
				return
			}
			var l slog.Level
			if err := l.UnmarshalText([]byte(strings.TrimSpace(string(body)))); err != nil {
				http.Error(w, fmt.Sprintf("want debug, info, warn or error: %v", err), http.StatusBadRequest)
				return
			}
			if old := v.Level(); old != l {
				v.Set(l)
				log.Warn("log level changed", "from", old, "to", l, "by", r.RemoteAddr)
			}
		default:
			w.Header().Set("Allow", "GET, PUT")
			http.Error(w, "use GET or PUT", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, strings.ToLower(v.Level().String()))
	})
}
