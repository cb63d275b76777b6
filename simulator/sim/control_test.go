package sim

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

// call does one control API request and decodes its JSON answer into out.
func call(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, url, ct)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, data)
		}
	}
	return resp.StatusCode
}

func TestControlAPI(t *testing.T) {
	t.Parallel()
	s := startText(t, faultScenario)
	api := httptest.NewServer(s.ControlHandler())
	defer api.Close()
	u := api.URL

	var devs []DeviceStatus
	if code := call(t, "GET", u+"/devices", "", &devs); code != 200 || len(devs) != 3 {
		t.Fatalf("GET /devices: %d, %+v", code, devs)
	}
	if d := devs[2]; d.Name != "plc-rtu" || d.Protocol != "rtu-over-tcp" || d.UnitID != 1 || d.Class != "boiler" ||
		d.Address != s.Addrs()[1] || d.Holes != "strict" || d.Faults == nil {
		t.Errorf("GET /devices[2] = %+v", d)
	}

	var st FaultStatus
	if code := call(t, "POST", u+"/devices/meter/faults", `{"kind":"delay","delay":"2s"}`, &st); code != 201 || !st.Active || st.Kind != "delay" || st.Delay.Duration != 2*time.Second {
		t.Fatalf("POST delay: %d, %+v", code, st)
	}
	// The same kind again replaces it.
	call(t, "POST", u+"/devices/meter/faults", `{"kind":"delay","delay":"1s","stop":"1h"}`, &st)
	if code := call(t, "POST", u+"/devices/meter/faults", `{"kind":"exception","code":2,"count":1}`, &st); code != 201 {
		t.Fatalf("POST exception: %d", code)
	}
	var d DeviceStatus
	if code := call(t, "GET", u+"/devices/meter", "", &d); code != 200 || len(d.Faults) != 2 ||
		d.Faults[0].Delay.Duration != time.Second || d.Faults[0].Until.IsZero() || d.Faults[1].Code != 2 {
		t.Fatalf("GET /devices/meter: %d, %+v", code, d)
	}

	// The exception reaches the gateway (after the delay), once; then it
	// is spent and dropped from the list, and the delay stays.
	b := newBus(t, fwconfig.TCP, s.Addrs()[0], 3*time.Second)
	if _, err := read(b, 2, profile.Holding, 0x401E, 2); exceptionCode(2)(err) != "" {
		t.Errorf("read with exception 2 set: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // a few updates: spent faults are dropped
	call(t, "GET", u+"/devices/meter", "", &d)
	if len(d.Faults) != 1 || d.Faults[0].Kind != "delay" || d.Faults[0].Injected != 1 {
		t.Errorf("after one read: %+v", d.Faults)
	}
	// Every request to the unit is counted, refused ones included.
	if d.Requests != 1 {
		t.Errorf("after one read: requests %d, want 1", d.Requests)
	}
	if devs[2].Requests != 0 {
		t.Errorf("before any read: plc-rtu requests %d, want 0", devs[2].Requests)
	}

	bad := []struct {
		name, path, body string
		code             int
		msg              string
	}{
		{"unknown kind", "/devices/meter/faults", `{"kind":"bogus"}`, 400, "want one of"},
		{"delay without duration", "/devices/meter/faults", `{"kind":"delay"}`, 400, "how long"},
		{"bad CRC on Modbus TCP", "/devices/meter/faults", `{"kind":"bad_crc"}`, 400, "Modbus TCP has no CRC"},
		{"field of another kind", "/devices/meter/faults", `{"kind":"stuck","code":2}`, 400, "code does not apply"},
		{"misspelt field", "/devices/meter/faults", `{"kind":"delay","dealy":"1s"}`, 400, "unknown field"},
		{"not JSON", "/devices/meter/faults", `delay 1s`, 400, "invalid character"},
		{"unknown device", "/devices/nope/faults", `{"kind":"stuck"}`, 404, "no such device"},
		{"unknown device GET", "/devices/nope", "", 404, "no such device"},
	}
	for _, tt := range bad {
		var e apiError
		method := "POST"
		if tt.body == "" {
			method = "GET"
		}
		if code := call(t, method, u+tt.path, tt.body, &e); code != tt.code || !strings.Contains(e.Error, tt.msg) {
			t.Errorf("%s: %d %q, want %d and %q", tt.name, code, e.Error, tt.code, tt.msg)
		}
	}

	var cleared map[string]int
	if code := call(t, "DELETE", u+"/devices/meter/faults/delay", "", &cleared); code != 200 || cleared["cleared"] != 1 {
		t.Errorf("DELETE delay: %d %v", code, cleared)
	}
	call(t, "POST", u+"/devices/meter/faults", `{"kind":"stuck"}`, nil)
	call(t, "POST", u+"/devices/meter/faults", `{"kind":"garbled","probability":0.5}`, nil)
	if code := call(t, "DELETE", u+"/devices/meter/faults", "", &cleared); code != 200 || cleared["cleared"] != 2 {
		t.Errorf("DELETE all: %d %v", code, cleared)
	}
	call(t, "GET", u+"/devices/meter", "", &d)
	if len(d.Faults) != 0 {
		t.Errorf("faults left: %+v", d.Faults)
	}
}

func TestServeControlStops(t *testing.T) {
	t.Parallel()
	s := startText(t, faultScenario)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeControl(ctx, ln) }()
	var devs []DeviceStatus
	if code := call(t, "GET", "http://"+ln.Addr().String()+"/devices", "", &devs); code != 200 || len(devs) != 3 {
		t.Fatalf("GET /devices: %d %d devices", code, len(devs))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeControl = %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeControl did not return")
	}
}
