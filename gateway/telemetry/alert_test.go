package telemetry_test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry/telemetrytest"
)

// The payloads as the collector has always published them: their bytes
// must not change.
const (
	boilerAlert = `{"v":1,"site":"plant-1","boiler":"b1","kind":"efficiency_below_limit","since":"2026-12-03T14:00:00+08:00",` +
		`"at":"2026-12-03T16:00:00+08:00","value":76.4,"limit":80,"message":"b1: hourly direct-method efficiency 76.4 % below 80 %"}`
	gatewayAlert = `{"v":1,"site":"plant-1","gateway":"gw-1","kind":"gateway_silent","since":"2026-12-03T14:00:00+08:00",` +
		`"at":"2026-12-03T14:05:30+08:00","value":330,"limit":300,"message":"gateway plant-1/gw-1 not heard from for 5m30s"}`
)

func TestAlertTopic(t *testing.T) {
	t.Parallel()
	topic := telemetry.AlertTopic("plant-1")
	if topic != "boilerwatch/v1/plant-1/alerts" {
		t.Errorf("AlertTopic = %q", topic)
	}
	// Four levels: no telemetry or status subscriber receives alerts.
	if _, _, _, err := telemetry.ParseTopic(topic); err == nil {
		t.Errorf("ParseTopic accepts the alert topic %q", topic)
	}
}

// TestAlertWire: the Go alerts of a boiler and of a gateway encode to the
// bytes the collector published before the type moved into the contract,
// decode back to themselves and fit the schema.
func TestAlertWire(t *testing.T) {
	t.Parallel()
	s := telemetrytest.Schema(t, "alert.schema.json")
	for want, a := range map[string]telemetry.Alert{
		boilerAlert: {V: 1, Site: "plant-1", Boiler: "b1", Kind: telemetry.AlertBelowLimit,
			Since: "2026-12-03T14:00:00+08:00", At: "2026-12-03T16:00:00+08:00", Value: 76.4, Limit: 80,
			Message: "b1: hourly direct-method efficiency 76.4 % below 80 %"},
		gatewayAlert: {V: 1, Site: "plant-1", Gateway: "gw-1", Kind: telemetry.AlertGatewaySilent,
			Since: "2026-12-03T14:00:00+08:00", At: "2026-12-03T14:05:30+08:00", Value: 330, Limit: 300,
			Message: "gateway plant-1/gw-1 not heard from for 5m30s"},
	} {
		got, err := a.Encode()
		if err != nil {
			t.Fatalf("Encode(%+v): %v", a, err)
		}
		if string(got) != want {
			t.Errorf("Encode:\n got %s\nwant %s", got, want)
		}
		back, err := telemetry.DecodeAlert(got)
		if err != nil || !reflect.DeepEqual(*back, a) {
			t.Errorf("DecodeAlert(%s) = %+v, %v; want %+v", got, back, err, a)
		}
		if err := telemetrytest.Check(s, got); err != nil {
			t.Errorf("schema rejects %s: %v", got, err)
		}
	}
}

// TestAlertSchemaAgreesWithDecode: the alert schema accepts what
// DecodeAlert accepts and rejects what it rejects, except for the listed
// gaps (docs/wire-format.md), each of which must still be one.
func TestAlertSchemaAgreesWithDecode(t *testing.T) {
	t.Parallel()
	s := telemetrytest.Schema(t, "alert.schema.json")
	edit := func(base string, f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal([]byte(base), &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	set := func(k string, v any) []byte { return edit(boilerAlert, func(m map[string]any) { m[k] = v }) }
	del := func(k string) []byte { return edit(boilerAlert, func(m map[string]any) { delete(m, k) }) }
	const (
		gapBytes = "maxLength counts characters, DecodeAlert counts bytes"
		gapDate  = "a pattern cannot tell a real date, or the order of two times"
		gapNull  = "encoding/json reads null as absent"
	)
	for _, c := range []struct {
		name    string
		payload []byte
		want    error // nil: valid
		gap     string
	}{
		{name: "boiler alert", payload: []byte(boilerAlert)},
		{name: "gateway alert", payload: []byte(gatewayAlert)},
		{name: "UTC times", payload: edit(boilerAlert, func(m map[string]any) {
			m["since"], m["at"] = "2026-12-03T06:00:00Z", "2026-12-03T08:00:00Z"
		})},
		{name: "fractional seconds", payload: set("at", "2026-12-03T16:00:00.5+08:00")},
		{name: "exhaust_high", payload: set("kind", telemetry.AlertExhaustHigh)},
		{name: "excess_air_high", payload: set("kind", telemetry.AlertExcessAirHigh)},
		{name: "queue_backlog", payload: edit(gatewayAlert, func(m map[string]any) { m["kind"] = telemetry.AlertQueueBacklog })},
		{name: "message of 1024 bytes", payload: set("message", strings.Repeat("x", 1024))},
		{name: "message in Chinese", payload: set("message", "1号锅炉效率低于限值")},
		{name: "negative value", payload: set("value", -1.5)},

		{name: "not JSON", payload: []byte(`{"v":1,`), want: telemetry.ErrSyntax},
		{name: "trailing data", payload: []byte(boilerAlert + `{}`), want: telemetry.ErrSyntax},
		{name: "not UTF-8", payload: []byte(strings.Replace(boilerAlert, "b1:", "b1\xff:", 1)), want: telemetry.ErrSyntax},
		{name: "an array", payload: []byte(`[` + boilerAlert + `]`), want: telemetry.ErrInvalid},
		{name: "v 2", payload: set("v", 2), want: telemetry.ErrVersion},
		{name: "v missing", payload: del("v"), want: telemetry.ErrVersion},
		{name: "unknown field", payload: set("device", "d1"), want: telemetry.ErrInvalid},
		{name: "site missing", payload: del("site"), want: telemetry.ErrInvalid},
		{name: "site with slash", payload: set("site", "plant/1"), want: telemetry.ErrInvalid},
		{name: "neither boiler nor gateway", payload: del("boiler"), want: telemetry.ErrInvalid},
		{name: "both boiler and gateway", payload: set("gateway", "gw-1"), want: telemetry.ErrInvalid},
		{name: "boiler starting with _", payload: set("boiler", "_b"), want: telemetry.ErrInvalid},
		{name: "unknown kind", payload: set("kind", "boiler_on_fire"), want: telemetry.ErrInvalid},
		{name: "gateway kind on a boiler", payload: set("kind", telemetry.AlertGatewaySilent), want: telemetry.ErrInvalid},
		{name: "boiler kind on a gateway", payload: edit(gatewayAlert, func(m map[string]any) { m["kind"] = telemetry.AlertBelowLimit }), want: telemetry.ErrInvalid},
		{name: "since without offset", payload: set("since", "2026-12-03T14:00:00"), want: telemetry.ErrInvalid},
		{name: "since as a date", payload: set("since", "2026-12-03"), want: telemetry.ErrInvalid},
		{name: "since as Unix ms", payload: set("since", 1764741600000), want: telemetry.ErrInvalid},
		{name: "at missing", payload: del("at"), want: telemetry.ErrInvalid},
		{name: "month 13", payload: set("at", "2026-13-03T16:00:00+08:00"), want: telemetry.ErrInvalid, gap: gapDate},
		{name: "at before since", payload: set("at", "2026-12-03T13:00:00+08:00"), want: telemetry.ErrInvalid, gap: gapDate},
		{name: "value as a string", payload: set("value", "76.4"), want: telemetry.ErrInvalid},
		{name: "limit missing", payload: del("limit"), gap: "Go cannot tell a missing limit from limit 0, which is valid"},
		{name: "empty message", payload: set("message", ""), want: telemetry.ErrInvalid},
		{name: "message of 1025 bytes", payload: set("message", strings.Repeat("x", 1025)), want: telemetry.ErrInvalid},
		{name: "message of 1026 bytes in 342 characters", payload: set("message", strings.Repeat("温", 342)), want: telemetry.ErrInvalid, gap: gapBytes},
		{name: "message with a newline", payload: set("message", "b1\nb2"), want: telemetry.ErrInvalid},
		{name: "message with U+202E", payload: set("message", "b1 \u202e2b"), want: telemetry.ErrInvalid},
		{name: "null message", payload: set("message", nil), want: telemetry.ErrInvalid},
		{name: "null gateway on a boiler alert", payload: set("gateway", nil), gap: gapNull},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := telemetry.DecodeAlert(c.payload)
			switch {
			case c.want == nil && err != nil:
				t.Errorf("DecodeAlert(%s): %v", c.payload, err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Errorf("DecodeAlert(%s) = %v, want %v", c.payload, err, c.want)
			}
			serr := telemetrytest.Check(s, c.payload)
			decodes := err == nil
			switch {
			case c.gap == "" && decodes && serr != nil:
				t.Errorf("DecodeAlert accepts, the schema rejects: %v", serr)
			case c.gap == "" && !decodes && serr == nil:
				t.Errorf("DecodeAlert rejects (%v), the schema accepts", err)
			case c.gap != "" && decodes == (serr == nil):
				t.Errorf("listed as a gap (%s), but schema and DecodeAlert agree (schema error: %v)", c.gap, serr)
			}
		})
	}
}

// TestAlertEncodeRefuses: Encode validates, so the collector cannot
// publish what DecodeAlert would reject — NaN, which JSON cannot carry,
// included.
func TestAlertEncodeRefuses(t *testing.T) {
	t.Parallel()
	var a telemetry.Alert
	if err := json.Unmarshal([]byte(boilerAlert), &a); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(a *telemetry.Alert){
		"NaN value":    func(a *telemetry.Alert) { a.Value = math.NaN() },
		"+Inf limit":   func(a *telemetry.Alert) { a.Limit = math.Inf(1) },
		"v 0":          func(a *telemetry.Alert) { a.V = 0 },
		"no kind":      func(a *telemetry.Alert) { a.Kind = "" },
		"site invalid": func(a *telemetry.Alert) { a.Site = "plant 1" },
	} {
		b := a
		f(&b)
		if payload, err := b.Encode(); err == nil {
			t.Errorf("%s: Encode = %s, want an error", name, payload)
		}
	}
}
