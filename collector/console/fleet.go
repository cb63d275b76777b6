package console

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/derived"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Fleet states of a gateway.
const (
	FleetOnline  = "online"
	FleetSilent  = "silent"  // its status says online, but nothing was heard for longer than fleet.silent_after
	FleetOffline = "offline" // its last status (or last will) says offline
)

// putMessage files a status from the broker. A live one was just sent: the
// gateway is heard now, and its ts against the collector's clock is its
// clock offset. A retained one (delivered on subscribing) may be old: the
// gateway was last heard when it was sent, not now, so a gateway that went
// silent before a collector restart is silent at once after it.
func (b *statusBook) putMessage(site string, st telemetry.Status, at time.Time, retained bool) putResult {
	res := b.put(site, st, at)
	if res == putUnregistered {
		return res
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.m[site+"/"+st.Gateway]
	if e == nil {
		return res
	}
	gs := e.Value.(GatewayStatus)
	heard := at
	sent := time.UnixMilli(st.TS)
	if retained {
		if st.TS > 0 && sent.Before(at) {
			heard = sent
		} else if st.TS == 0 && !gs.Heard.IsZero() {
			heard = gs.Heard // a retained will: gone at some unknown time
		}
	} else if st.TS > 0 {
		off := sent.Sub(at)
		gs.ClockOffset = &off
	}
	if heard.After(gs.Heard) {
		gs.Heard = heard
	}
	e.Value = gs
	return res
}

// heard notes a message of a gateway already in the book.
func (b *statusBook) heard(site, gateway string, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.m[site+"/"+gateway]
	if e == nil {
		return
	}
	gs := e.Value.(GatewayStatus)
	if at.After(gs.Heard) {
		gs.Heard = at
		e.Value = gs
		b.order.MoveToBack(e)
	}
}

// Observe notes a telemetry message the collector received, so that the
// fleet page knows when each gateway was last heard from between its
// statuses (collector: ingest.Options.Observe). It costs one map lookup.
func (c *Console) Observe(m *telemetry.Message) {
	if m != nil {
		c.status.heard(m.Site, m.Gateway, c.now())
	}
}

// fleetConfig is the section with the parser's defaults applied, for a
// config built in code.
func (c *Console) fleetConfig() config.ConsoleFleet {
	f := c.opts.Config.Fleet
	if f.SilentAfter.Duration <= 0 {
		f.SilentAfter.Duration = config.DefaultFleetSilentAfter
	}
	if f.QueuePending == nil && f.QueueRecords == 0 {
		f.QueueRecords = config.DefaultFleetQueuePending
	}
	f.QueueBytes.Default(config.DefaultFleetQueueBytes)
	return f
}

// fleetState is a gateway's state at now.
func fleetState(g GatewayStatus, now time.Time, silentAfter time.Duration) string {
	switch {
	case g.State != "online":
		return FleetOffline
	case now.Sub(g.Heard) > silentAfter:
		return FleetSilent
	}
	return FleetOnline
}

// fleetGateway is one row of the fleet page.
type fleetGateway struct {
	Site          string                 `json:"site"`
	Gateway       string                 `json:"gateway"`
	State         string                 `json:"state"`
	Version       string                 `json:"version,omitempty"`
	ConfigVersion string                 `json:"config_version,omitempty"`
	ConfigApplied int64                  `json:"config_applied,omitempty"` // when the gateway applied it, Unix s
	Boot          string                 `json:"boot,omitempty"`
	UptimeS       int64                  `json:"uptime_s,omitempty"`
	StatusAt      int64                  `json:"status_at"`       // when the last status arrived, Unix s
	LastHeard     int64                  `json:"last_heard"`      // last status or telemetry, Unix s
	SilentS       int64                  `json:"silent_s"`        // seconds since then
	ClockOffsetMS *int64                 `json:"clock_offset_ms"` // gateway ts − collector clock, last live status
	Clock         string                 `json:"clock,omitempty"`
	Queue         *telemetry.QueueStatus `json:"queue,omitempty"`
	// OldestUnsent is the stamp of the oldest sample still in the
	// gateway's queue (Unix s) and OldestUnsentS its age now, as of the
	// last status; absent when nothing waits or the gateway does not say.
	OldestUnsent  int64                            `json:"oldest_unsent,omitempty"`
	OldestUnsentS *int64                           `json:"oldest_unsent_s,omitempty"`
	Devices       map[string]telemetry.DeviceState `json:"devices,omitempty"`
	DevicesOnline int                              `json:"devices_online"`
	DevicesTotal  int                              `json:"devices_total"`
	Alerts        []string                         `json:"alerts"`
	// Update is the last software update report (updates.go).
	Update *fleetUpdate `json:"update,omitempty"`
}

// fleet lists the gateways the user may see, of one site or all, with
// state in states (all when empty).
func (c *Console) fleet(ctx context.Context, site string, states map[string]bool) []fleetGateway {
	now := c.now()
	f := c.fleetConfig()
	active := c.activeAlerts()
	out := []fleetGateway{}
	for _, g := range c.status.list(site) {
		if !inScope(ctx, g.Site) {
			continue
		}
		st := fleetState(g, now, f.SilentAfter.Duration)
		if len(states) > 0 && !states[st] {
			continue
		}
		heard := g.Heard
		if heard.IsZero() {
			heard = g.Received
		}
		row := fleetGateway{Site: g.Site, Gateway: g.Gateway, State: st, Version: g.Version, ConfigVersion: g.ConfigVersion,
			Boot: g.Boot, UptimeS: g.UptimeS, StatusAt: g.Received.Unix(), LastHeard: heard.Unix(),
			SilentS: int64(max(now.Sub(heard), 0) / time.Second), Clock: g.Clock, Queue: g.Queue, Devices: g.Devices,
			DevicesTotal: len(g.Devices), Alerts: []string{}, Update: c.updates.get(g.Site, g.Gateway)}
		if g.ClockOffset != nil {
			ms := g.ClockOffset.Milliseconds()
			row.ClockOffsetMS = &ms
		}
		if g.ConfigApplied > 0 {
			row.ConfigApplied = g.ConfigApplied / 1000
		}
		if g.Queue != nil && g.Queue.OldestTS > 0 && g.Queue.Pending > 0 {
			oldest := time.UnixMilli(g.Queue.OldestTS)
			age := int64(max(now.Sub(oldest), 0) / time.Second)
			row.OldestUnsent, row.OldestUnsentS = oldest.Unix(), &age
		}
		for _, d := range g.Devices {
			if d.State == "online" {
				row.DevicesOnline++
			}
		}
		for _, k := range telemetry.GatewayAlertKinds {
			if _, ok := active[alertKey{g.Site, g.Gateway, k}]; ok {
				row.Alerts = append(row.Alerts, k)
			}
		}
		out = append(out, row)
	}
	return out
}

// apiFleet serves GET /api/fleet[?site=][&state=online,silent,offline][&format=csv].
func (c *Console) apiFleet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	siteID, err := name(q, "site", false)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if siteID != "" && !inScope(r.Context(), siteID) {
		c.fail(w, r, outOfScope(siteID))
		return
	}
	states := map[string]bool{}
	if s := q.Get("state"); s != "" {
		for _, st := range strings.Split(s, ",") {
			switch st {
			case FleetOnline, FleetSilent, FleetOffline:
				states[st] = true
			default:
				c.fail(w, r, badf("state %q: want online, silent or offline (several with commas)", truncate(st, 20)))
				return
			}
		}
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		c.fail(w, r, badf("format %q: want json or csv", truncate(format, 20)))
		return
	}
	rows := c.fleet(r.Context(), siteID, states)
	f := c.fleetConfig()
	if format == "csv" {
		loc := c.defLoc
		name := "fleet.csv"
		if siteID != "" {
			loc = c.site(siteID).loc
			name = "fleet-" + siteID + ".csv"
		}
		writeCSV(w, name, fleetFrame(rows), loc)
		return
	}
	writeJSON(w, map[string]any{
		"now": c.now().Unix(), "silent_after_s": int64(f.SilentAfter.Duration / time.Second),
		"queue_pending_bound": f.QueueRecords, "queue_bytes_bound": f.QueueBytes.Bytes,
		"gateways": rows,
	})
}

// fleetFrame is the fleet as one table, for CSV.
func fleetFrame(rows []fleetGateway) *Frame {
	cols := []Column{
		{Key: "site", Kind: "text"}, {Key: "gateway", Kind: "text"}, {Key: "state", Kind: "text"},
		{Key: "version", Kind: "text"}, {Key: "config_version", Kind: "text"}, {Key: "config_applied", Kind: "time"},
		{Key: "last_heard", Kind: "time"}, {Key: "status_at", Kind: "time"},
		{Key: "queue_pending", Kind: "number"}, {Key: "queue_bytes", Unit: "B", Kind: "number"},
		{Key: "queue_dropped", Kind: "number"}, {Key: "oldest_unsent", Kind: "time"}, {Key: "oldest_unsent_age", Unit: "s", Kind: "number"},
		{Key: "clock_offset", Unit: "ms", Kind: "number"}, {Key: "clock", Kind: "text"},
		{Key: "devices_online", Kind: "number"}, {Key: "devices_total", Kind: "number"},
		{Key: "devices", Kind: "text"}, {Key: "alerts", Kind: "text"}, {Key: "update", Kind: "text"},
	}
	fr := &Frame{ID: "fleet", Columns: cols, Data: make([][]any, len(cols))}
	for _, g := range rows {
		var pending, bytes, dropped, offset, applied, oldest, oldestAge any
		if g.Queue != nil {
			pending, bytes, dropped = int64(g.Queue.Pending), g.Queue.Bytes, int64(g.Queue.Dropped)
		}
		if g.ConfigApplied > 0 {
			applied = g.ConfigApplied
		}
		if g.OldestUnsentS != nil {
			oldest, oldestAge = g.OldestUnsent, *g.OldestUnsentS
		}
		if g.ClockOffsetMS != nil {
			offset = *g.ClockOffsetMS
		}
		names := make([]string, 0, len(g.Devices))
		for n := range g.Devices {
			names = append(names, n)
		}
		sort.Strings(names)
		devs := make([]string, len(names))
		for i, n := range names {
			devs[i] = n + ":" + g.Devices[n].State
		}
		row := []any{g.Site, g.Gateway, g.State, g.Version, g.ConfigVersion, applied, g.LastHeard, g.StatusAt,
			pending, bytes, dropped, oldest, oldestAge, offset, g.Clock, g.DevicesOnline, g.DevicesTotal,
			strings.Join(devs, " "), strings.Join(g.Alerts, " "), g.Update.text()}
		for i, v := range row {
			fr.Data[i] = append(fr.Data[i], v)
		}
	}
	return fr
}

type alertKey struct{ site, gateway, kind string }

// fleetAlerts keeps the open episodes: each alerted once, until its
// condition clears.
type fleetAlerts struct {
	mu   sync.Mutex
	open map[alertKey]time.Time // → since
	// publish sends an alert (the status watcher's client); nil: logged only.
	publish func(topic string, payload []byte) error
}

func (a *fleetAlerts) setPublisher(p func(topic string, payload []byte) error) {
	a.mu.Lock()
	a.publish = p
	a.mu.Unlock()
}

func (c *Console) activeAlerts() map[alertKey]time.Time {
	c.alerts.mu.Lock()
	defer c.alerts.mu.Unlock()
	m := make(map[alertKey]time.Time, len(c.alerts.open))
	for k, v := range c.alerts.open {
		m[k] = v
	}
	return m
}

// checkFleet raises the alerts whose condition holds at now and were not
// raised in this episode, and closes the episodes whose condition
// cleared. It returns the alerts raised.
func (c *Console) checkFleet(ctx context.Context, now time.Time) []telemetry.Alert {
	f := c.fleetConfig()
	var raised []telemetry.Alert
	holds := map[alertKey]bool{}
	// listed: gateways whose status the book holds. An episode restored
	// from the record stays open until its gateway's status arrives.
	listed := map[[2]string]bool{}
	for _, g := range c.status.list("") {
		listed[[2]string{g.Site, g.Gateway}] = true
		heard := g.Heard
		if heard.IsZero() {
			heard = g.Received
		}
		loc := c.site(g.Site).loc
		cond := func(kind string, since time.Time, value, limit float64, msg string) {
			// Whole seconds, as the alert's since says and the record
			// keeps it: the episode's end finds its start by that time.
			since = since.Truncate(time.Second)
			k := alertKey{g.Site, g.Gateway, kind}
			holds[k] = true
			c.alerts.mu.Lock()
			_, open := c.alerts.open[k]
			if !open {
				if c.alerts.open == nil {
					c.alerts.open = map[alertKey]time.Time{}
				}
				c.alerts.open[k] = since
			}
			c.alerts.mu.Unlock()
			if !open {
				raised = append(raised, telemetry.Alert{V: telemetry.Version, Site: g.Site, Gateway: g.Gateway, Kind: kind,
					Since: since.In(loc).Format(time.RFC3339), At: now.In(loc).Format(time.RFC3339),
					Value: value, Limit: limit, Message: msg})
			}
		}
		silent := now.Sub(heard)
		if silent > f.SilentAfter.Duration {
			kind, what := telemetry.AlertGatewaySilent, "its status says online"
			if g.State != "online" {
				kind, what = telemetry.AlertGatewayOffline, "its last status says offline"
			}
			cond(kind, heard, silent.Seconds(), f.SilentAfter.Seconds(),
				fmt.Sprintf("gateway %s/%s not heard from for %s (since %s); %s", g.Site, g.Gateway,
					silent.Round(time.Second), heard.In(loc).Format("2006-01-02 15:04:05"), what))
		}
		// A queue counts only from a status the gateway sent while up:
		// the last will carries none.
		if q := g.Queue; q != nil && g.State == "online" {
			switch {
			case f.QueueRecords > 0 && int64(q.Pending) > f.QueueRecords:
				cond(telemetry.AlertQueueBacklog, g.Received, float64(q.Pending), float64(f.QueueRecords),
					fmt.Sprintf("gateway %s/%s: %d records wait in its queue, more than %d", g.Site, g.Gateway, q.Pending, f.QueueRecords))
			case f.QueueBytes.Bytes > 0 && q.Bytes > f.QueueBytes.Bytes:
				cond(telemetry.AlertQueueBacklog, g.Received, float64(q.Bytes), float64(f.QueueBytes.Bytes),
					fmt.Sprintf("gateway %s/%s: its queue takes %d bytes, more than %d", g.Site, g.Gateway, q.Bytes, f.QueueBytes.Bytes))
			}
		}
	}
	c.alerts.mu.Lock()
	ended := map[alertKey]time.Time{}
	for k, since := range c.alerts.open {
		if !holds[k] && listed[[2]string{k.site, k.gateway}] {
			ended[k] = since
			delete(c.alerts.open, k)
		}
	}
	publish := c.alerts.publish
	c.alerts.mu.Unlock()
	eps, record := c.fleetEpisodes()
	for k, since := range ended {
		c.log.Info("fleet alert over", "site", k.site, "gateway", k.gateway, "kind", k.kind)
		if record {
			if err := eps.Store.Write(ctx, eps.EndPoint(k.site, k.gateway, k.kind, since, now)); err != nil {
				c.log.Error("fleet alert end not recorded", "site", k.site, "gateway", k.gateway, "kind", k.kind, "error", err)
			}
		}
	}
	slices.SortFunc(raised, func(a, b telemetry.Alert) int {
		return strings.Compare(a.Site+"/"+a.Gateway+"/"+a.Kind, b.Site+"/"+b.Gateway+"/"+b.Kind)
	})
	for _, a := range raised {
		c.log.Warn("fleet alert", "site", a.Site, "gateway", a.Gateway, "kind", a.Kind, "since", a.Since, "message", a.Message)
		if record {
			since, _ := time.Parse(time.RFC3339, a.Since)
			if err := eps.Store.Write(ctx, eps.StartPoint(a.Site, a.Gateway, a.Kind, since, now, a.Message, a.Value, a.Limit)); err != nil {
				c.log.Error("fleet alert not recorded", "site", a.Site, "gateway", a.Gateway, "kind", a.Kind, "error", err)
			}
		}
		if publish != nil {
			payload, err := a.Encode()
			if err == nil {
				err = publish(telemetry.AlertTopic(a.Site), payload)
			}
			if err != nil {
				c.log.Error("fleet alert not published", "site", a.Site, "gateway", a.Gateway, "kind", a.Kind, "error", err)
			}
		}
	}
	return raised
}

// fleetCheckEvery is how often the alerts are checked.
const fleetCheckEvery = 15 * time.Second

// watchFleet restores the open episodes and checks the fleet's alerts
// until ctx is done.
func (c *Console) watchFleet(ctx context.Context) {
	c.restoreFleetAlerts(ctx)
	t := time.NewTicker(fleetCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.checkFleet(ctx, c.now())
		}
	}
}

// fleetEpisodes is the record of the fleet alerts' episodes, and whether
// there is one (Options.Events).
func (c *Console) fleetEpisodes() (derived.Episodes, bool) {
	return derived.Episodes{Store: c.opts.Events, Tag: "gateway", Kinds: telemetry.GatewayAlertKinds}, c.opts.Events != nil
}

// restoreFleetAlerts opens the episodes the record holds as open: their
// alert went out before a restart, and goes out again only in a new
// episode.
func (c *Console) restoreFleetAlerts(ctx context.Context) {
	eps, ok := c.fleetEpisodes()
	if !ok {
		return
	}
	last, err := eps.Last(ctx, "", "", "", c.now().Add(time.Millisecond))
	if err != nil {
		c.log.Error("fleet alert episodes not restored: an open one may be raised again", "error", err)
		return
	}
	c.alerts.mu.Lock()
	defer c.alerts.mu.Unlock()
	for k, ep := range last {
		if !ep.Ended.IsZero() {
			continue
		}
		if c.alerts.open == nil {
			c.alerts.open = map[alertKey]time.Time{}
		}
		c.alerts.open[alertKey{k.Site, k.Subject, k.Kind}] = ep.Since
		c.log.Info("fleet alert episode still open", "site", k.Site, "gateway", k.Subject, "kind", k.Kind, "since", ep.Since)
	}
}
