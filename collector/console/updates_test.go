package console

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// The fleet shows each gateway's last software update report, in its JSON
// and as the CSV's update column; reports on another gateway's topic or
// not in the contract are ignored.
func TestFleetUpdateProgress(t *testing.T) {
	cfg := config.Console{
		Users: []config.ConsoleUser{quickUser(t, "regulator")},
		Sites: []config.ConsoleSite{{ID: "plant-a"}},
		Fleet: config.ConsoleFleet{SilentAfter: conf.D(5 * time.Minute), QueueRecords: 1000},
	}
	o := newOffline(t, cfg, &tagStore{sites: []string{"plant-a"}})
	t0 := o.clock.now()
	o.con.status.putMessage("plant-a", fleetStatus("gw-1", "online", t0, 0), t0, false)
	o.con.status.putMessage("plant-a", fleetStatus("gw-2", "online", t0, 0), t0, false)
	ack := func(gw string, a telemetry.UpdateAck) error {
		a.V, a.TS = telemetry.Version, t0.UnixMilli()
		b, _ := json.Marshal(a)
		return o.con.updates.put(telemetry.UpdateAckTopic("plant-a", gw), b)
	}
	if err := ack("gw-1", telemetry.UpdateAck{Gateway: "gw-1", Release: "1.5.0", Running: "1.4.2", Status: telemetry.UpdateDownloading, Done: 450, Total: 1000}); err != nil {
		t.Fatal(err)
	}
	if err := ack("gw-2", telemetry.UpdateAck{Gateway: "gw-1", Release: "9.9.9", Status: telemetry.UpdateUpdated}); err == nil {
		t.Error("a report on another gateway's topic was taken")
	}
	if err := o.con.updates.put(telemetry.ConfigAckTopic("plant-a", "gw-2"), []byte(`{}`)); err == nil {
		t.Error("a config ack was taken for an update report")
	}
	all := o.login(t, "regulator")
	code, _, body := get(t, all, o.srv.URL+"/api/fleet")
	var a fleetAnswer
	if code != http.StatusOK || json.Unmarshal(body, &a) != nil || len(a.Gateways) != 2 {
		t.Fatalf("%d %s", code, body)
	}
	if u := a.Gateways[0].Update; u == nil || u.Release != "1.5.0" || u.Status != "downloading" || u.Done != 450 || u.Total != 1000 || u.At != t0.Unix() {
		t.Errorf("gw-1 update %+v", u)
	}
	if u := a.Gateways[1].Update; u != nil {
		t.Errorf("gw-2 update %+v, want none", u)
	}
	code, _, csv := get(t, all, o.srv.URL+"/api/fleet?format=csv")
	lines := strings.Split(strings.TrimSpace(strings.TrimPrefix(string(csv), "\uFEFF")), "\n")
	if code != http.StatusOK || len(lines) != 3 || !strings.HasSuffix(lines[0], ",update") ||
		!strings.HasSuffix(lines[1], ",1.5.0 downloading 45%") || !strings.HasSuffix(lines[2], ",") {
		t.Errorf("CSV %d:\n%s", code, csv)
	}
}
