package telemetry_test

import (
	"errors"
	"testing"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

func TestParsePresence(t *testing.T) {
	for _, c := range []struct {
		name, topic, payload string
		id                   string
		gone, bad            bool
	}{
		{name: "announcement", topic: telemetry.PresenceTopic("col-a"), payload: `{"collector":"col-a","instance":1700000000000,"ts":1700000001000}`, id: "col-a"},
		{name: "will", topic: telemetry.PresenceTopic("col-a"), payload: "", id: "col-a", gone: true},
		{name: "other collector's name", topic: telemetry.PresenceTopic("col-a"), payload: `{"collector":"col-b","instance":1,"ts":1}`, bad: true},
		{name: "unknown field", topic: telemetry.PresenceTopic("col-a"), payload: `{"collector":"col-a","instance":1,"ts":1,"x":1}`, bad: true},
		{name: "not JSON", topic: telemetry.PresenceTopic("col-a"), payload: `up`, bad: true},
		// A gateway whose site is "collectors" and name "presence" may
		// write boilerwatch/v1/collectors/presence/status: never a collector.
		{name: "gateway status level", topic: "boilerwatch/v1/collectors/presence/status", payload: "", bad: true},
		{name: "gateway telemetry level", topic: "boilerwatch/v1/collectors/presence/telemetry", payload: "", bad: true},
		{name: "heartbeat", topic: telemetry.HeartbeatTopic, payload: "", bad: true},
		{name: "deeper", topic: telemetry.PresenceTopic("a") + "/b", payload: "", bad: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, p, err := telemetry.ParsePresence(c.topic, []byte(c.payload))
			if c.bad {
				if !errors.Is(err, telemetry.ErrInvalid) {
					t.Fatalf("got %q %+v %v, want ErrInvalid", id, p, err)
				}
				return
			}
			if err != nil || id != c.id || (p == nil) != c.gone {
				t.Fatalf("got %q %+v %v, want %q gone=%v", id, p, err, c.id, c.gone)
			}
		})
	}
}
