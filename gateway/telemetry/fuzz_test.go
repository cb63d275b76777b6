package telemetry_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// FuzzDecode: Decode never panics, fails only with one of its sentinels, and
// whatever it accepts survives the gateway's encoder: the Encoder writes
// exactly what json.Marshal writes, and that decodes again to an equal
// message. The collector sees whatever an
// MQTT client sends, so Decode is its attack surface. The hand-written
// parser Decode tries first takes only payloads that encoding/json
// (DecodeWellFormed, the parser it replaced) decodes to the same message.
//
// Seeds: testdata/fuzz/FuzzDecode (valid and invalid payloads).
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkFastAgrees(t, payload)
		checkAsBefore(t, payload)
		m, err := telemetry.Decode(payload)
		if err != nil {
			if m != nil {
				t.Fatalf("Decode returned a message along with %v", err)
			}
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %v wraps %d sentinels, want exactly 1", err, n)
			}
			return
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("Marshal of an accepted message: %v", err)
		}
		checkEncoding(t, m)
		again, err := telemetry.Decode(out)
		if err != nil {
			t.Fatalf("re-encoded message rejected: %v\ninput:  %q\noutput: %q", err, payload, out)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed the message:\nfirst:  %#v\nsecond: %#v", m, again)
		}
	})
}

// checkFastAgrees: what DecodeFast takes from payload (valid UTF-8, as
// Decode hands it), DecodeWellFormed takes too, as the same message.
func checkFastAgrees(t *testing.T, payload []byte) (fast bool) {
	t.Helper()
	if !utf8.Valid(payload) {
		return false
	}
	m, ok := telemetry.DecodeFast(payload)
	if !ok {
		if m != nil {
			t.Fatalf("DecodeFast returned a message with ok false")
		}
		return false
	}
	want, wok := telemetry.DecodeWellFormed(payload)
	if !wok {
		t.Fatalf("DecodeFast takes what encoding/json refuses:\n%q\n%#v", payload, m)
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("DecodeFast and encoding/json differ on\n%q\nfast: %#v\njson: %#v", payload, m, want)
	}
	return true
}

// checkAsBefore: Decode returns what it returned before it had the
// hand-written parser (referenceDecode), error text included.
func checkAsBefore(t *testing.T, payload []byte) {
	t.Helper()
	got, err := telemetry.Decode(payload)
	want, werr := referenceDecode(payload)
	if !sameError(err, werr) || !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode of %q:\n%v, %#v\nbefore: %v, %#v", payload, err, got, werr, want)
	}
}

// sameError: the same text, or two invalid-message errors about a
// sample's values, of which Validate reports the first it meets in a
// map's random order.
func sameError(a, b error) bool {
	if fmt.Sprint(a) == fmt.Sprint(b) {
		return true
	}
	const values = "invalid message: samples["
	return errors.Is(a, telemetry.ErrInvalid) && errors.Is(b, telemetry.ErrInvalid) &&
		strings.HasPrefix(a.Error(), values) && strings.HasPrefix(b.Error(), values)
}

// referenceDecode is Decode as it was with encoding/json alone.
func referenceDecode(payload []byte) (*telemetry.Message, error) {
	if len(payload) > telemetry.MaxPayload {
		return nil, fmt.Errorf("%w: %d bytes > %d", telemetry.ErrTooLarge, len(payload), telemetry.MaxPayload)
	}
	if !utf8.Valid(payload) {
		return nil, fmt.Errorf("%w: not UTF-8", telemetry.ErrSyntax)
	}
	if m, ok := telemetry.DecodeWellFormed(payload); ok {
		if err := m.Validate(); err != nil {
			return nil, err
		}
		return m, nil
	}
	var probe struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return nil, fmt.Errorf("%w: %v", telemetry.ErrSyntax, err)
	}
	if probe.V == nil || *probe.V != telemetry.Version {
		got := "missing"
		if probe.V != nil {
			got = fmt.Sprint(*probe.V)
		}
		return nil, fmt.Errorf("%w: v=%s, want %d", telemetry.ErrVersion, got, telemetry.Version)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var m telemetry.Message
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", telemetry.ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after message", telemetry.ErrInvalid)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}
