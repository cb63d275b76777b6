package telemetry_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// FuzzDecode: Decode never panics, fails only with one of its sentinels, and
// whatever it accepts survives the gateway's encoder: the Encoder writes
// exactly what json.Marshal writes, and that decodes again to an equal
// message. The collector sees whatever an
// MQTT client sends, so Decode is its attack surface.
//
// Seeds: testdata/fuzz/FuzzDecode (valid and invalid payloads).
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, payload []byte) {
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
