package telemetry_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry/telemetrytest"
)

var updateStatuses = []string{telemetry.UpdateDownloading, telemetry.UpdateSwitching, telemetry.UpdateUpdated,
	telemetry.UpdateRejected, telemetry.UpdateFailed, telemetry.UpdateRolledBack}

// checkUpdateAck: a docs example of an update ack is one, field for field,
// with a known status, and the schema takes it.
func checkUpdateAck(t *testing.T, block int, payload []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var a telemetry.UpdateAck
	if err := dec.Decode(&a); err != nil {
		t.Errorf("block %d: not an UpdateAck: %v", block, err)
	}
	if a.V != telemetry.Version || !slices.Contains(updateStatuses, a.Status) {
		t.Errorf("block %d: update ack %+v: want v %d and a known status", block, a, telemetry.Version)
	}
	if err := telemetrytest.Check(telemetrytest.Schema(t, "update-ack.schema.json"), payload); err != nil {
		t.Errorf("block %d: update ack schema: %v", block, err)
	}
}

// Every status the gateway sends is in the schema, and what it marshals
// validates; the schema refuses an unknown status and a missing field.
func TestUpdateAckSchema(t *testing.T) {
	t.Parallel()
	s := telemetrytest.Schema(t, "update-ack.schema.json")
	for _, st := range updateStatuses {
		a := telemetry.UpdateAck{V: telemetry.Version, Gateway: "gw-01", Release: "1.4.0", Running: "1.3.2", Status: st, Done: 10, Total: 20, TS: 1767225600000}
		b, _ := json.Marshal(a)
		if err := telemetrytest.Check(s, b); err != nil {
			t.Errorf("%s: %v", st, err)
		}
	}
	for _, bad := range []string{
		`{"v":1,"gateway":"gw-01","release":"1.4.0","running":"1.3.2","status":"installed","ts":1}`,
		`{"v":1,"gateway":"gw-01","release":"1.4.0","status":"updated","ts":1}`,
		`{"v":1,"gateway":"gw-01","release":"1.4.0","running":"1.3.2","status":"updated","ts":1,"extra":1}`,
	} {
		if telemetrytest.Check(s, []byte(bad)) == nil {
			t.Errorf("schema accepts %s", bad)
		}
	}
}

func TestUpdateTopics(t *testing.T) {
	t.Parallel()
	for got, want := range map[string]string{
		telemetry.UpdateTopic("plant-a", "gw-01"):    "boilerwatch/v1/plant-a/gw-01/update",
		telemetry.SiteUpdateTopic("plant-a"):         "boilerwatch/v1/plant-a/update",
		telemetry.UpdateAckTopic("plant-a", "gw-01"): "boilerwatch/v1/plant-a/gw-01/update/ack",
	} {
		if got != want {
			t.Errorf("topic %s, want %s", got, want)
		}
	}
}

func TestParseUpdateAckTopic(t *testing.T) {
	t.Parallel()
	site, gw, err := telemetry.ParseUpdateAckTopic(telemetry.UpdateAckTopic("plant-a", "gw-01"))
	if err != nil || site != "plant-a" || gw != "gw-01" {
		t.Fatalf("%s %s %v", site, gw, err)
	}
	for _, bad := range []string{
		telemetry.ConfigAckTopic("plant-a", "gw-01"), telemetry.UpdateTopic("plant-a", "gw-01"),
		"boilerwatch/v1/plant-a/gw-01/update/ack/x", "boilerwatch/v1//gw-01/update/ack", "other/v1/a/b/update/ack",
	} {
		if _, _, err := telemetry.ParseUpdateAckTopic(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}
