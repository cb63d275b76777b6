package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// The control API injects and clears faults while the simulator runs. It
// has no authentication, so it listens on loopback only (see main).
//
//	GET    /devices                       every device with its faults
//	GET    /devices/{name}                one device
//	POST   /devices/{name}/faults         set a fault (JSON FaultSpec); replaces one of the same kind
//	DELETE /devices/{name}/faults         clear all of the device's faults
//	DELETE /devices/{name}/faults/{kind}  clear the faults of one kind

// ControlHandler serves the control API.
func (s *Simulator) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /devices", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Devices())
	})
	mux.HandleFunc("GET /devices/{name}", func(w http.ResponseWriter, r *http.Request) {
		d, err := s.Device(r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, d)
	})
	mux.HandleFunc("POST /devices/{name}/faults", func(w http.ResponseWriter, r *http.Request) {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		var spec FaultSpec
		if err := dec.Decode(&spec); err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{fmt.Sprintf("fault: %v (send e.g. {\"kind\":\"delay\",\"delay\":\"2s\"})", err)})
			return
		}
		st, err := s.SetFault(r.PathValue("name"), spec)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, st)
	})
	clear := func(w http.ResponseWriter, r *http.Request) {
		n, err := s.ClearFaults(r.PathValue("name"), r.PathValue("kind"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"cleared": n})
	}
	mux.HandleFunc("DELETE /devices/{name}/faults", clear)
	mux.HandleFunc("DELETE /devices/{name}/faults/{kind}", clear)
	return mux
}

type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusBadRequest
	if errors.Is(err, ErrNoDevice) {
		code = http.StatusNotFound
	}
	writeJSON(w, code, apiError{err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// ServeControl serves the control API on ln until ctx is done (then it
// returns nil, after open requests finished or 2 s passed).
func (s *Simulator) ServeControl(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.ControlHandler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	})
	err := hs.Serve(ln)
	if !stop() {
		<-done // the shutdown started: let it finish
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("control API on %v: %w", ln.Addr(), err)
}
