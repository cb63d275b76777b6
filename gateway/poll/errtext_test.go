package poll

import (
	"errors"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// TestErrTextIsValidErr: whatever an error says, the bad value the gateway
// publishes for it is one the collector accepts, so one odd error text
// cannot cost the whole message.
func TestErrTextIsValidErr(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, err, want string
	}{
		{"modbus exception", "modbus: exception '2' (illegal data address), function '3'", "modbus: exception '2' (illegal data address), function '3'"},
		{"multi-line error", "read tcp 10.0.0.5:502: i/o timeout\nretry 1", "read tcp 10.0.0.5:502: i/o timeout retry 1"},
		{"NUL from a device string", "point serial: \"BW\x00\"", `point serial: "BW\u0000"`},
		{"bidi override", "point o2: \u202e1.0", `point o2: \u202E1.0`},
		{"invalid UTF-8 cut", "bad reply \xe9\x94", "bad reply \ufffd\ufffd"},
		{"long", strings.Repeat("x", 300), strings.Repeat("x", 200)},
		{"long, cut inside a character", strings.Repeat("x", 199) + "锅锅", strings.Repeat("x", 199)},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := errText(errors.New(c.err))
			if got != c.want {
				t.Errorf("errText(%q) = %q, want %q", c.err, got, c.want)
			}
			m := &telemetry.Message{V: telemetry.Version, Site: "s", Gateway: "g", Boot: "0123456789abcdef",
				Samples: []telemetry.Sample{{Device: "d", Profile: "p", Class: "boiler", TS: 1718000000000,
					Values: map[string]telemetry.Value{"o2": telemetry.BadValue(got)}}}}
			var e telemetry.Encoder
			if _, err := telemetry.Decode(e.Encode(m)); err != nil {
				t.Errorf("the collector refuses the gateway's message: %v", err)
			}
		})
	}
}
