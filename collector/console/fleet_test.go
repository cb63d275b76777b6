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

// fleetStatus is a live status of gw sent at ts with a queue.
func fleetStatus(gw, state string, ts time.Time, pending uint64) telemetry.Status {
	st := telemetry.Status{V: telemetry.Version, Gateway: gw, State: state, Version: "1.4.2", ConfigVersion: "7", Boot: "b1",
		Devices: map[string]telemetry.DeviceState{"boiler1": {State: "online"}, "meter1": {State: "offline", LastError: "timeout"}}}
	if state == "online" {
		st.TS = ts.UnixMilli()
		st.Queue = &telemetry.QueueStatus{Pending: pending, Bytes: int64(pending) * 600}
		if pending > 0 {
			st.Queue.OldestTS = ts.Add(-time.Duration(pending) * time.Second).UnixMilli()
		}
		st.ConfigApplied = ts.Add(-48 * time.Hour).UnixMilli()
		st.Clock = telemetry.ClockSynchronised
	}
	return st
}

type fleetAnswer struct {
	SilentAfterS int64 `json:"silent_after_s"`
	Gateways     []fleetGateway
}

// TestFleet: states (online, silent after fleet.silent_after without a
// status or telemetry, offline from the will), the clock offset of a live
// status, a retained status counted from when it was sent, filters, the
// CSV, and the user's site scope.
func TestFleet(t *testing.T) {
	cfg := config.Console{
		Users: []config.ConsoleUser{quickUser(t, "regulator"), quickUser(t, "plant-a-engineer", "plant-a")},
		Sites: []config.ConsoleSite{{ID: "plant-a"}, {ID: "plant-b"}},
		Fleet: config.ConsoleFleet{SilentAfter: conf.D(5 * time.Minute), QueueRecords: 1000},
	}
	o := newOffline(t, cfg, &tagStore{sites: []string{"plant-a", "plant-b"}})
	t0 := o.clock.now()
	book := &o.con.status
	// gw-1: live status, its clock 1.5 s behind; then telemetry keeps it heard.
	book.putMessage("plant-a", fleetStatus("gw-1", "online", t0.Add(-1500*time.Millisecond), 10), t0, false)
	// gw-2: a retained status sent 20 minutes before the collector subscribed.
	book.putMessage("plant-a", fleetStatus("gw-2", "online", t0.Add(-20*time.Minute), 5000), t0, true)
	// gw-3 on plant-b: its last will.
	book.putMessage("plant-b", fleetStatus("gw-3", "offline", t0, 0), t0, false)
	o.clock.add(4 * time.Minute)
	o.con.Observe(&telemetry.Message{Site: "plant-a", Gateway: "gw-1"})
	o.clock.add(2 * time.Minute) // gw-1 heard 2 min ago, its status 6 min ago

	all, scoped := o.login(t, "regulator"), o.login(t, "plant-a-engineer")
	fleet := func(c *http.Client, query string) (int, fleetAnswer, string) {
		t.Helper()
		code, _, body := get(t, c, o.srv.URL+"/api/fleet"+query)
		var a fleetAnswer
		if code == http.StatusOK {
			if err := json.Unmarshal(body, &a); err != nil {
				t.Fatal(err)
			}
		}
		return code, a, string(body)
	}
	summary := func(a fleetAnswer) string {
		var s []string
		for _, g := range a.Gateways {
			s = append(s, g.Site+"/"+g.Gateway+":"+g.State)
		}
		return strings.Join(s, " ")
	}
	before := o.store.count()
	code, a, body := fleet(all, "")
	if code != http.StatusOK || summary(a) != "plant-a/gw-1:online plant-a/gw-2:silent plant-b/gw-3:offline" {
		t.Fatalf("%d %s", code, body)
	}
	if o.store.count() != before {
		t.Errorf("the fleet sent %d queries; it needs none", o.store.count()-before)
	}
	g1, g2 := a.Gateways[0], a.Gateways[1]
	if g1.ClockOffsetMS == nil || *g1.ClockOffsetMS != -1500 || g1.SilentS != 120 || g1.DevicesOnline != 1 || g1.DevicesTotal != 2 || g1.Version != "1.4.2" || g1.ConfigVersion != "7" {
		t.Errorf("gw-1: %+v", g1)
	}
	if g2.ClockOffsetMS != nil || g2.SilentS != 26*60 || g2.Queue == nil || g2.Queue.Pending != 5000 {
		t.Errorf("gw-2 (retained, 20 min old when received): %+v", g2)
	}
	// config_applied as the gateway said; the oldest unsent sample's age
	// counted to now (gw-1 sent it 6 min ago with its oldest 10 s older).
	if g1.ConfigApplied != t0.Add(-1500*time.Millisecond-48*time.Hour).Unix() ||
		g1.OldestUnsent != t0.Add(-1500*time.Millisecond-10*time.Second).Unix() || g1.OldestUnsentS == nil || *g1.OldestUnsentS != 6*60+11 {
		t.Errorf("gw-1 config_applied %d, oldest_unsent %d age %v", g1.ConfigApplied, g1.OldestUnsent, g1.OldestUnsentS)
	}
	if g3 := a.Gateways[2]; g3.OldestUnsentS != nil || g3.ConfigApplied != 0 {
		t.Errorf("gw-3 (its will carries neither): %+v", g3)
	}
	if _, a, _ := fleet(all, "?state=silent,offline"); summary(a) != "plant-a/gw-2:silent plant-b/gw-3:offline" {
		t.Errorf("state filter: %s", summary(a))
	}
	if _, a, _ := fleet(all, "?site=plant-b"); summary(a) != "plant-b/gw-3:offline" {
		t.Errorf("site filter: %s", summary(a))
	}
	if code, _, body := fleet(all, "?state=lost"); code != http.StatusBadRequest || !strings.Contains(body, "want online, silent or offline") {
		t.Errorf("bad state: %d %s", code, body)
	}
	// Scope: another site's gateways are not listed, and naming the site is a 404.
	if _, a, _ := fleet(scoped, ""); summary(a) != "plant-a/gw-1:online plant-a/gw-2:silent" {
		t.Errorf("scoped fleet: %s", summary(a))
	}
	for _, site := range []string{"plant-b", "plant-z"} {
		if code, _, body := fleet(scoped, "?site="+site); code != http.StatusNotFound || !strings.Contains(body, `site \"`+site+`\" not found`) {
			t.Errorf("scoped user, site %s: %d %s", site, code, body)
		}
	}
	code, hdr, csv := get(t, all, o.srv.URL+"/api/fleet?site=plant-a&format=csv")
	lines := strings.Split(strings.TrimSpace(strings.TrimPrefix(string(csv), "\uFEFF")), "\n")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || len(lines) != 3 ||
		!strings.HasPrefix(lines[0], "site,gateway,state,version,config_version,config_applied (") ||
		!strings.Contains(lines[0], ",queue_dropped,oldest_unsent (") || !strings.Contains(lines[0], "),oldest_unsent_age (s),clock_offset (ms),") ||
		!strings.HasPrefix(lines[1], "plant-a,gw-1,online,1.4.2,7,") || !strings.Contains(lines[1], ",371,-1500,synchronised,1,2,boiler1:online meter1:offline,") {
		t.Errorf("CSV %d:\n%s", code, csv)
	}
}

// TestFleetAlerts: a gateway silent past fleet.silent_after and a queue
// past its bound each raise one alert per episode, published on the
// site's alert topic; the episode ends when the gateway is heard again or
// the queue shrinks, and the next one alerts again.
func TestFleetAlerts(t *testing.T) {
	cfg := config.Console{Fleet: config.ConsoleFleet{SilentAfter: conf.D(5 * time.Minute), QueueRecords: 1000, QueueBytes: conf.ByteSize{Bytes: 1 << 30}}}
	o := newOffline(t, cfg, &tagStore{})
	var published []string
	o.con.alerts.setPublisher(func(topic string, payload []byte) error {
		var a telemetry.Alert
		if err := json.Unmarshal(payload, &a); err != nil {
			t.Error(err)
		}
		published = append(published, topic+" "+a.Gateway+" "+a.Kind)
		return nil
	})
	book := &o.con.status
	live := func(gw string, pending uint64) {
		book.putMessage("plant-a", fleetStatus(gw, "online", o.clock.now(), pending), o.clock.now(), false)
	}
	start := o.clock.now()
	check := func(want string) {
		t.Helper()
		var got []string
		for _, a := range o.con.checkFleet(t.Context(), o.clock.now()) {
			got = append(got, a.Gateway+" "+a.Kind)
		}
		if g := strings.Join(got, ", "); g != want {
			t.Errorf("at +%s: alerts %q, want %q", o.clock.now().Sub(start), g, want)
		}
	}
	live("gw-1", 10)
	live("gw-2", 10)
	check("")
	for range 4 { // gw-1 keeps publishing, gw-2 falls silent
		o.clock.add(time.Minute)
		live("gw-1", 10)
		check("")
	}
	o.clock.add(90 * time.Second)
	live("gw-1", 2000) // and gw-1's queue grows past 1000
	check("gw-1 queue_backlog, gw-2 gateway_silent")
	o.clock.add(time.Minute)
	live("gw-1", 3000)
	check("") // once per episode
	live("gw-2", 10)
	live("gw-1", 10)
	check("") // both episodes over
	o.clock.add(6 * time.Minute)
	live("gw-1", 10)
	check("gw-2 gateway_silent") // a new episode
	// The last will: offline, alerted once it is older than silent_after.
	book.putMessage("plant-a", fleetStatus("gw-1", "offline", o.clock.now(), 0), o.clock.now(), false)
	o.clock.add(5*time.Minute + time.Second)
	check("gw-1 gateway_offline")
	if got := strings.Join(published, "; "); got != "boilerwatch/v1/plant-a/alerts gw-1 queue_backlog; boilerwatch/v1/plant-a/alerts gw-2 gateway_silent; "+
		"boilerwatch/v1/plant-a/alerts gw-2 gateway_silent; boilerwatch/v1/plant-a/alerts gw-1 gateway_offline" {
		t.Errorf("published %s", got)
	}
	if a := o.con.fleet(t.Context(), "", nil); len(a) != 2 || strings.Join(a[0].Alerts, ",") != "gateway_offline" || strings.Join(a[1].Alerts, ",") != "gateway_silent" {
		t.Errorf("open alerts on the fleet page: %+v", a)
	}
}
