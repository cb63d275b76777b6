package telemetry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"
)

// AlertTopic is where the collector publishes a site's alerts (QoS 1, not
// retained). Four levels, so no telemetry or status filter matches it.
func AlertTopic(site string) string { return root + site + "/alerts" }

// Kinds of a boiler's alert, raised by the collector's efficiency and
// energy engine. Its events measurement carries the same values in its
// kind tag.
const (
	AlertBelowLimit    = "efficiency_below_limit"
	AlertExhaustHigh   = "exhaust_high"
	AlertExcessAirHigh = "excess_air_high"
)

// Kinds of a gateway's alert, raised by the collector's console from the
// gateways' status (the fleet page).
const (
	AlertGatewaySilent  = "gateway_silent"
	AlertGatewayOffline = "gateway_offline"
	AlertQueueBacklog   = "queue_backlog"
)

// BoilerAlertKinds and GatewayAlertKinds list the kinds above.
var (
	BoilerAlertKinds  = []string{AlertBelowLimit, AlertExhaustHigh, AlertExcessAirHigh}
	GatewayAlertKinds = []string{AlertGatewaySilent, AlertGatewayOffline, AlertQueueBacklog}
)

// MaxAlertMessage bounds Alert.Message in bytes; the collector's messages
// are at most about 300.
const MaxAlertMessage = 1024

// Alert is the payload on AlertTopic: one alert episode of a boiler or of
// a gateway, published once when its condition has held long enough.
// Exactly one of Boiler and Gateway is set, and Kind is one of that
// subject's kinds.
type Alert struct {
	V       int    `json:"v"`
	Site    string `json:"site"`
	Boiler  string `json:"boiler,omitempty"`
	Gateway string `json:"gateway,omitempty"`
	Kind    string `json:"kind"`
	Since   string `json:"since"` // RFC 3339: start of the episode
	At      string `json:"at"`    // RFC 3339: when its duration or bound was passed
	// Value is what passed Limit: an efficiency in %, a temperature in °C,
	// an excess air ratio, seconds silent, records or bytes queued.
	Value   float64 `json:"value"`
	Limit   float64 `json:"limit"`
	Message string  `json:"message"`
}

// Validate checks an alert's fields; errors wrap ErrVersion or ErrInvalid.
func (a *Alert) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: alert: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if a.V != Version {
		return fmt.Errorf("%w: alert: v=%d, want %d", ErrVersion, a.V, Version)
	}
	if !ValidName(a.Site) {
		return bad("site %q is not a valid name", a.Site)
	}
	subject, name, kinds := "boiler", a.Boiler, BoilerAlertKinds
	switch {
	case a.Boiler != "" && a.Gateway != "":
		return bad("both boiler %q and gateway %q: an alert is about one", a.Boiler, a.Gateway)
	case a.Boiler == "":
		subject, name, kinds = "gateway", a.Gateway, GatewayAlertKinds
	}
	if !ValidName(name) {
		return bad("%s %q is not a valid name", subject, name)
	}
	if !slices.Contains(kinds, a.Kind) {
		return bad("kind %q: a %s alert's is one of %v", a.Kind, subject, kinds)
	}
	since, err := time.Parse(time.RFC3339, a.Since)
	if err != nil {
		return bad("since: %v", err)
	}
	at, err := time.Parse(time.RFC3339, a.At)
	if err != nil {
		return bad("at: %v", err)
	}
	if at.Before(since) {
		return bad("at %s is before since %s", a.At, a.Since)
	}
	if math.IsNaN(a.Value) || math.IsInf(a.Value, 0) {
		return bad("value %v is not a finite number", a.Value)
	}
	if math.IsNaN(a.Limit) || math.IsInf(a.Limit, 0) {
		return bad("limit %v is not a finite number", a.Limit)
	}
	if a.Message == "" {
		return bad("no message")
	}
	if len(a.Message) > MaxAlertMessage {
		return bad("message longer than %d bytes", MaxAlertMessage)
	}
	if err := CheckText(a.Message); err != nil {
		return bad("message: %v", err)
	}
	return nil
}

// Encode validates the alert and returns its payload.
func (a *Alert) Encode() ([]byte, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(a)
}

// DecodeAlert parses and validates an alert payload. Every error wraps one
// of ErrTooLarge, ErrSyntax, ErrVersion or ErrInvalid.
func DecodeAlert(payload []byte) (*Alert, error) {
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(payload), MaxPayload)
	}
	if !utf8.Valid(payload) || !json.Valid(payload) {
		return nil, fmt.Errorf("%w: not a JSON alert", ErrSyntax)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var a Alert
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("%w: alert: %v", ErrInvalid, err)
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return &a, nil
}
