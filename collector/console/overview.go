package console

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/boilerwatch/boilerwatch/collector/store"
)

type overviewDevice struct {
	ID         string `json:"id"`
	Class      string `json:"class,omitempty"`
	Profile    string `json:"profile,omitempty"`
	State      string `json:"state"`
	LastError  string `json:"last_error,omitempty"`
	LastSample *int64 `json:"last_sample,omitempty"`
	// Completeness is today's samples over those expected since local
	// midnight, in %.
	Completeness *float64 `json:"completeness,omitempty"`
}

type overviewGateway struct {
	ID            string           `json:"id"`
	State         string           `json:"state"`
	Version       string           `json:"version,omitempty"`
	ConfigVersion string           `json:"config_version,omitempty"`
	StatusAt      *int64           `json:"status_at,omitempty"`
	Devices       []overviewDevice `json:"devices"`
}

type overviewBoiler struct {
	boilerInfo
	// Load is the latest raw load in %.
	Load     *float64 `json:"load,omitempty"`
	LoadAt   *int64   `json:"load_at,omitempty"`
	Direct   *float64 `json:"direct,omitempty"`
	Indirect *float64 `json:"indirect,omitempty"`
	Grade    *float64 `json:"grade,omitempty"`
	// EffAt is the start of the hour the efficiency is of.
	EffAt *int64 `json:"eff_at,omitempty"`
}

type overviewMeter struct {
	Meter        string   `json:"meter"`
	Completeness *float64 `json:"completeness,omitempty"`
}

type overviewSite struct {
	siteInfo
	Gateways []overviewGateway `json:"gateways"`
	Boilers  []overviewBoiler  `json:"boilers"`
	// Meters is today's completeness per meter from the engine's
	// data_quality, when it has written today's value.
	Meters []overviewMeter `json:"meters"`
}

// Overview paging: a page lists at most overviewPerPage boilers and as
// many gateways (per_page, up to overviewMaxPerPage), so a province of
// 2,000 boilers is browsed, and queried, a page at a time.
const (
	overviewPerPage    = 50
	overviewMaxPerPage = 500
	overviewMaxQuery   = 64
)

// overviewPage is the page asked for: the search text (lower case), the
// page number (from 1) and its size.
type overviewPage struct {
	q             string
	page, perPage int
}

func parseOverviewPage(v url.Values) (overviewPage, error) {
	p := overviewPage{q: strings.ToLower(strings.TrimSpace(v.Get("q"))), page: 1, perPage: overviewPerPage}
	if len(p.q) > overviewMaxQuery || strings.IndexFunc(p.q, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return p, badf("q: at most %d printable characters", overviewMaxQuery)
	}
	for _, f := range []struct {
		key      string
		dst      *int
		min, max int
	}{{"page", &p.page, 1, 1 << 20}, {"per_page", &p.perPage, 1, overviewMaxPerPage}} {
		if s := v.Get(f.key); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < f.min || n > f.max {
				return p, badf("%s: %q is not a number from %d to %d", f.key, s, f.min, f.max)
			}
			*f.dst = n
		}
	}
	return p, nil
}

// match reports whether the search text is in any of names.
func (p overviewPage) match(names ...string) bool {
	if p.q == "" {
		return true
	}
	for _, n := range names {
		if strings.Contains(strings.ToLower(n), p.q) {
			return true
		}
	}
	return false
}

// overviewKey is a boiler or gateway of a site.
type overviewKey struct{ site, name string }

// overviewIndex is what a page shows, chosen before anything is queried:
// the configured boilers and the gateways with a status that match the
// search, sorted by site and name, and this page's share of each.
type overviewIndex struct {
	boilers, gateways map[overviewKey]bool // on this page
	// listed: every boiler and gateway the index knows, on this page or
	// not; one it does not know (found only in the data) is shown with
	// its site when it matches the search.
	listed        map[overviewKey]bool
	sites         map[string]bool // sites with something on this page
	totalBoilers  int
	totalGateways int
	pages         int
}

func (c *Console) overviewIndex(sites []siteInfo, p overviewPage) overviewIndex {
	ix := overviewIndex{boilers: map[overviewKey]bool{}, gateways: map[overviewKey]bool{}, listed: map[overviewKey]bool{}, sites: map[string]bool{}}
	byID := map[string]siteInfo{}
	for _, s := range sites {
		byID[s.ID] = s
	}
	var boilers, gateways []overviewKey
	if e := c.opts.Energy; e != nil {
		for _, b := range e.Boilers {
			k := overviewKey{b.Site, b.Name}
			if s, ok := byID[b.Site]; ok {
				ix.listed[k] = true
				if p.match(b.Name, s.ID, s.Title) {
					boilers = append(boilers, k)
				}
			}
		}
	}
	for _, st := range c.status.list("") {
		k := overviewKey{st.Site, st.Gateway}
		if s, ok := byID[st.Site]; ok {
			ix.listed[k] = true
			if p.match(st.Gateway, s.ID, s.Title) {
				gateways = append(gateways, k)
			}
		}
	}
	cmpKey := func(a, b overviewKey) int { return cmp.Or(cmp.Compare(a.site, b.site), cmp.Compare(a.name, b.name)) }
	slices.SortFunc(boilers, cmpKey)
	slices.SortFunc(gateways, cmpKey)
	ix.totalBoilers, ix.totalGateways = len(boilers), len(gateways)
	ix.pages = max(1, (max(len(boilers), len(gateways))+p.perPage-1)/p.perPage)
	from := (p.page - 1) * p.perPage
	for _, list := range []struct {
		keys []overviewKey
		on   map[overviewKey]bool
	}{{boilers, ix.boilers}, {gateways, ix.gateways}} {
		for _, k := range list.keys[min(from, len(list.keys)):min(from+p.perPage, len(list.keys))] {
			list.on[k] = true
			ix.sites[k.site] = true
		}
	}
	// A site with no boiler or gateway the index knows (found only in
	// the data) is on the first page when it matches.
	if p.page == 1 {
		has := map[string]bool{}
		for k := range ix.listed {
			has[k.site] = true
		}
		for _, s := range sites {
			if !has[s.ID] && p.match(s.ID, s.Title) {
				ix.sites[s.ID] = true
			}
		}
	}
	return ix
}

// trim keeps of a site's overview what is on the page: the index's
// boilers and gateways of this page, and those it does not know that
// match the search.
func (ix overviewIndex) trim(o *overviewSite, p overviewPage) {
	o.Boilers = slices.DeleteFunc(o.Boilers, func(b overviewBoiler) bool {
		k := overviewKey{o.ID, b.Name}
		return !ix.boilers[k] && (ix.listed[k] || !p.match(b.Name, o.ID, o.Title))
	})
	o.Gateways = slices.DeleteFunc(o.Gateways, func(g overviewGateway) bool {
		k := overviewKey{o.ID, g.ID}
		return !ix.gateways[k] && (ix.listed[k] || !p.match(g.ID, o.ID, o.Title))
	})
	if p.q != "" {
		o.Meters = slices.DeleteFunc(o.Meters, func(m overviewMeter) bool { return !p.match(m.Meter, o.ID, o.Title) })
	}
}

func (c *Console) apiOverview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	siteID, err := name(r.URL.Query(), "site", false)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if siteID != "" && !inScope(ctx, siteID) {
		c.fail(w, r, outOfScope(siteID))
		return
	}
	pg, err := parseOverviewPage(r.URL.Query())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	// Every site costs several queries; a few at a time keep a page with
	// many sites from flooding InfluxDB.
	ctx = withQueryLimit(ctx, overviewQueries)
	sites, err := c.sites(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if siteID != "" {
		sites = slices.DeleteFunc(sites, func(s siteInfo) bool { return s.ID != siteID })
		if len(sites) == 0 {
			c.fail(w, r, badf("unknown site %q", siteID))
			return
		}
	}
	ix := c.overviewIndex(sites, pg)
	sites = slices.DeleteFunc(sites, func(s siteInfo) bool { return !ix.sites[s.ID] })
	// The page's sites by time zone, each zone's queried together.
	zones := map[string][]siteInfo{}
	for _, s := range sites {
		zones[s.loc.String()] = append(zones[s.loc.String()], s)
	}
	byID := map[string]overviewSite{}
	var mu sync.Mutex
	var fns []func() error
	for _, group := range zones {
		fns = append(fns, func() error {
			got, err := c.overviewSites(ctx, group)
			mu.Lock()
			defer mu.Unlock()
			for _, o := range got {
				ix.trim(&o, pg)
				byID[o.ID] = o
			}
			return err
		})
	}
	if err := parallel(fns...); err != nil {
		c.fail(w, r, err)
		return
	}
	out := make([]overviewSite, len(sites))
	for i, s := range sites {
		out[i] = byID[s.ID]
	}
	writeJSON(w, map[string]any{"now": c.now().Unix(), "sites": out,
		"page": pg.page, "per_page": pg.perPage, "pages": ix.pages, "q": pg.q,
		"total_boilers": ix.totalBoilers, "total_gateways": ix.totalGateways})
}

// overviewSites gathers sites that share a time zone (so a local
// midnight): gateways and devices from the status watcher and the last
// samples, today's completeness, and the boilers' latest hour. One set of
// queries serves them all: a page of a province has many sites, and six
// queries for each kept InfluxDB busy for seconds.
func (c *Console) overviewSites(ctx context.Context, sites []siteInfo) ([]overviewSite, error) {
	now := c.now()
	lt := now.In(sites[0].loc)
	midnight := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, sites[0].loc)
	in, err := c.overviewRows(ctx, sites, now, midnight)
	if err != nil {
		return nil, err
	}
	out := make([]overviewSite, len(sites))
	for i, s := range sites {
		si := in[s.ID]
		out[i] = overviewSite{siteInfo: s,
			Gateways: c.overviewGateways(s.ID, si, now.Sub(midnight)),
			Boilers:  overviewBoilers(si.boilers, si.eff, si.load),
			Meters:   overviewMeters(si.dq),
		}
	}
	return out, nil
}

// overviewInputs are what a site's overview is made of.
type overviewInputs struct {
	// last is each device's last sample of the last 7 days, today and
	// recent its samples since local midnight and in the last 10 minutes.
	last, today, recent []row
	// eff is each boiler's last hourly efficiency, load each device's
	// last load, dq each meter's last daily completeness.
	eff, load, dq []row
	boilers       []boilerInfo
}

// overviewRows queries the sites' overview at once, by site. A site known
// only from a gateway status has no data to find.
func (c *Console) overviewRows(ctx context.Context, sites []siteInfo, now, midnight time.Time) (map[string]*overviewInputs, error) {
	in := map[string]*overviewInputs{}
	var ids []string
	for _, s := range sites {
		in[s.ID] = &overviewInputs{}
		if !s.statusOnly {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) == 0 {
		return in, nil
	}
	bucket, site := store.FluxString(c.opts.Store.Bucket()), store.OneOf("site", ids...)
	// Ranges are absolute, from the console's clock; a minute past now
	// takes in samples stamped by a gateway clock slightly ahead.
	stop := store.FluxTime(now.Add(time.Minute))
	var mu sync.Mutex
	q := func(dst func(*overviewInputs) *[]row, flux string, a ...any) func() error {
		return func() error {
			rows, err := queryRows(ctx, c.opts.Store, fmt.Sprintf(flux, a...))
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rows {
				if si := in[r.Tags["site"]]; si != nil {
					*dst(si) = append(*dst(si), r)
				}
			}
			return err
		}
	}
	// Bare last() and count() right after a filter are answered by
	// InfluxDB's storage without reading every sample.
	fns := []func() error{
		q(func(i *overviewInputs) *[]row { return &i.last }, `from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => %s and r._field == "_seq") |> last()`,
			bucket, store.FluxTime(now.Add(-7*24*time.Hour)), stop, site),
		q(func(i *overviewInputs) *[]row { return &i.today }, `from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => %s and r._field == "_seq") |> count()`,
			bucket, store.FluxTime(midnight), stop, site),
		q(func(i *overviewInputs) *[]row { return &i.recent }, `from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => %s and r._field == "_seq") |> count()`,
			bucket, store.FluxTime(now.Add(-10*time.Minute)), stop, site),
		q(func(i *overviewInputs) *[]row { return &i.eff }, `from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => r._measurement == "boiler_efficiency" and %s and r.period == "1h") |> filter(fn: (r) => %s) |> last()`,
			bucket, store.FluxTime(now.Add(-48*time.Hour)), stop, site, store.OneOf("_field", "direct", "indirect", "limit", "grade")),
		q(func(i *overviewInputs) *[]row { return &i.load }, `from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => %s and r._field == "load") |> last()`,
			bucket, store.FluxTime(now.Add(-time.Hour)), stop, site),
		q(func(i *overviewInputs) *[]row { return &i.dq }, `from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => r._measurement == "data_quality" and %s and r.kind == "completeness" and r._field == "completeness") |> last()`,
			bucket, store.FluxTime(midnight.AddDate(0, 0, -1)), stop, site),
	}
	for _, id := range ids {
		fns = append(fns, func() error {
			b, err := c.boilers(ctx, id)
			mu.Lock()
			in[id].boilers = b
			mu.Unlock()
			return err
		})
	}
	return in, parallel(fns...)
}

// overviewDevKey is a device of a gateway.
type overviewDevKey struct{ gw, dev string }

// overviewGateways are a site's gateways and devices: the status
// watcher's, plus any device with samples in the last 7 days, with
// today's completeness (elapsed since local midnight).
func (c *Console) overviewGateways(site string, in *overviewInputs, elapsed time.Duration) []overviewGateway {
	devs := map[overviewDevKey]*overviewDevice{}
	gws := map[string]*overviewGateway{}
	gw := func(id string) *overviewGateway {
		if gws[id] == nil {
			gws[id] = &overviewGateway{ID: id, State: "unknown"}
		}
		return gws[id]
	}
	dev := func(g, d string) *overviewDevice {
		k := overviewDevKey{g, d}
		if devs[k] == nil {
			devs[k] = &overviewDevice{ID: d, State: "unknown"}
		}
		return devs[k]
	}
	for _, st := range c.status.list(site) {
		g := gw(st.Gateway)
		g.State, g.Version, g.ConfigVersion = st.State, st.Version, st.ConfigVersion
		at := st.Received.Unix()
		if st.TS > 0 {
			at = st.TS / 1000
		}
		g.StatusAt = &at
		for name, ds := range st.Devices {
			d := dev(st.Gateway, name)
			d.State, d.LastError = ds.State, ds.LastError
			if st.State == "offline" {
				// The last will carries no devices; an older birth's
				// device states are stale once the gateway is gone.
				d.State = "offline"
			}
		}
	}
	for _, r := range in.last {
		d := dev(r.Tags["gateway"], r.Tags["device"])
		gw(r.Tags["gateway"])
		t := r.Time.Unix()
		d.LastSample, d.Class, d.Profile = &t, r.Measurement, r.Tags["profile"]
	}
	c.todayCompleteness(site, devs, in.today, in.recent, elapsed)
	for k, d := range devs {
		g := gw(k.gw)
		if d.State == "unknown" && g.State == "offline" {
			d.State = "offline"
		}
		g.Devices = append(g.Devices, *d)
	}
	out := []overviewGateway{}
	for _, id := range sortedKeys(gws) {
		g := gws[id]
		slices.SortFunc(g.Devices, func(a, b overviewDevice) int { return strings.Compare(a.ID, b.ID) })
		if g.State == "online" {
			for _, d := range g.Devices {
				if d.State == "degraded" || d.State == "offline" {
					g.State = "degraded"
					break
				}
			}
		}
		out = append(out, *g)
	}
	return out
}

// todayCompleteness sets each known device's share of the samples
// expected since local midnight: by the configured meter interval, else
// by the device's rate over the last 10 minutes.
func (c *Console) todayCompleteness(site string, devs map[overviewDevKey]*overviewDevice, today, recent []row, elapsed time.Duration) {
	intervals := map[string]time.Duration{}
	for _, m := range c.meters(site) {
		intervals[m.Device] = m.Interval
	}
	recentN := map[overviewDevKey]float64{}
	for _, r := range recent {
		if f, ok := r.Float(); ok {
			recentN[overviewDevKey{r.Tags["gateway"], r.Tags["device"]}] = f
		}
	}
	for _, r := range today {
		k := overviewDevKey{r.Tags["gateway"], r.Tags["device"]}
		n, ok := r.Float()
		if !ok || devs[k] == nil {
			continue
		}
		iv := intervals[k.dev]
		if iv <= 0 && recentN[k] > 0 {
			iv = time.Duration(float64(10*time.Minute) / recentN[k])
		}
		if iv <= 0 || elapsed <= 0 {
			continue
		}
		pct := min(100, 100*n/(float64(elapsed)/float64(iv)))
		devs[k].Completeness = &pct
	}
}

// overviewBoilers are the boilers with their latest hour's efficiency and
// their latest load. The rows are indexed first: a page of a province
// has thousands of each.
func overviewBoilers(boilers []boilerInfo, eff, load []row) []overviewBoiler {
	effBy := map[string][]row{}
	for _, r := range eff {
		effBy[r.Tags["boiler"]] = append(effBy[r.Tags["boiler"]], r)
	}
	loadBy := map[string]row{}
	for _, r := range load {
		loadBy[r.Tags["device"]] = r
	}
	out := []overviewBoiler{}
	for _, b := range boilers {
		ob := overviewBoiler{boilerInfo: b}
		for _, r := range effBy[b.Name] {
			f, ok := r.Float()
			if !ok {
				continue
			}
			t := r.Time.Unix()
			ob.EffAt = &t
			switch r.Field {
			case "direct":
				ob.Direct = &f
			case "indirect":
				ob.Indirect = &f
			case "grade":
				ob.Grade = &f
			case "limit":
				if ob.Limit == nil {
					ob.Limit = &f
				}
			}
		}
		if ref, ok := b.inputs["load"]; ok {
			if r, ok := loadBy[ref.Device]; ok {
				if f, ok := r.Float(); ok {
					f *= ref.Factor
					t := r.Time.Unix()
					ob.Load, ob.LoadAt = &f, &t
				}
			}
		}
		out = append(out, ob)
	}
	return out
}

// overviewMeters are the meters' latest daily completeness, by name.
func overviewMeters(dq []row) []overviewMeter {
	out := []overviewMeter{}
	for _, r := range dq {
		if f, ok := r.Float(); ok {
			m := r.Tags["meter"]
			if m == "" {
				m = r.Tags["device"]
			}
			out = append(out, overviewMeter{Meter: m, Completeness: &f})
		}
	}
	slices.SortFunc(out, func(a, b overviewMeter) int { return strings.Compare(a.Meter, b.Meter) })
	return out
}
