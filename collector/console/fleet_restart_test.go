package console

import (
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/derived"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// TestFleetAlertsAcrossRestart: the fleet alerts' episodes are recorded in
// the events measurement (derived.Episodes, as the engine records its
// own), so a collector restarted during an episode does not raise it
// again, records its end, and raises the next one.
func TestFleetAlertsAcrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts InfluxDB")
	}
	influx := servicetest.StartInflux(t)
	ctx := t.Context()
	st := store.Open(store.Config{URL: influx.URL, Bucket: influx.Bucket})
	defer st.Close()
	if err := st.EnsureDatabase(ctx); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock(time.Date(2026, 1, 15, 2, 30, 0, 0, time.UTC))
	cfg := config.Console{Location: time.UTC, Fleet: config.ConsoleFleet{SilentAfter: conf.D(5 * time.Minute), QueueRecords: 1000}}
	start := func() *Console {
		t.Helper()
		con, err := New(Options{Store: st, Events: st, Config: cfg, Now: clock.now})
		if err != nil {
			t.Fatal(err)
		}
		con.restoreFleetAlerts(ctx)
		return con
	}
	status := func(con *Console, sent time.Time, retained bool) {
		con.status.putMessage("plant-a", fleetStatus("gw-2", "online", sent, 10), clock.now(), retained)
	}
	check := func(con *Console, want string) {
		t.Helper()
		var got []string
		for _, a := range con.checkFleet(ctx, clock.now()) {
			got = append(got, a.Gateway+" "+a.Kind)
		}
		if g := strings.Join(got, ", "); g != want {
			t.Errorf("alerts %q, want %q", g, want)
		}
	}
	recorded := func() derived.Episode {
		t.Helper()
		eps := derived.Episodes{Store: st, Tag: "gateway", Kinds: telemetry.GatewayAlertKinds}
		last, err := eps.Last(ctx, "plant-a", "gw-2", "", clock.now().Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return last[derived.EpisodeKey{Site: "plant-a", Subject: "gw-2", Kind: telemetry.AlertGatewaySilent}]
	}

	con := start()
	heard := clock.now()
	status(con, heard, false)
	clock.add(6 * time.Minute)
	check(con, "gw-2 gateway_silent")
	if ep := recorded(); !ep.Since.Equal(heard) || !ep.Ended.IsZero() {
		t.Fatalf("recorded episode %+v, want open since %v", ep, heard)
	}

	// Restart: the retained status arrives again; the episode is still open.
	clock.add(time.Minute)
	con = start()
	check(con, "") // its status has not arrived yet: the restored episode stays open
	status(con, heard, true)
	check(con, "")
	// The gateway is heard again: the episode ends, and the record says when.
	status(con, clock.now(), false)
	check(con, "")
	if ep := recorded(); !ep.Since.Equal(heard) || !ep.Ended.Equal(clock.now()) {
		t.Errorf("recorded episode %+v, want since %v ended %v", ep, heard, clock.now())
	}

	// Restart again: nothing open, so the next silence is a new episode.
	con = start()
	status(con, clock.now(), true)
	clock.add(6 * time.Minute)
	check(con, "gw-2 gateway_silent")
}
