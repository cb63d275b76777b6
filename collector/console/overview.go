package console

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

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
	out := make([]overviewSite, len(sites))
	fns := make([]func() error, len(sites))
	for i, s := range sites {
		fns[i] = func() (err error) {
			out[i], err = c.overviewSite(ctx, s)
			return err
		}
	}
	if err := parallel(fns...); err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"now": c.now().Unix(), "sites": out})
}

// overviewSite gathers one site: gateways and devices from the status
// watcher and the last samples, today's completeness, and the boilers'
// latest hour.
func (c *Console) overviewSite(ctx context.Context, s siteInfo) (overviewSite, error) {
	now := c.now()
	lt := now.In(s.loc)
	midnight := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, s.loc)
	in, err := c.overviewRows(ctx, s, now, midnight)
	if err != nil {
		return overviewSite{}, err
	}
	return overviewSite{siteInfo: s,
		Gateways: c.overviewGateways(s.ID, in, now.Sub(midnight)),
		Boilers:  overviewBoilers(in.boilers, in.eff, in.load),
		Meters:   overviewMeters(in.dq),
	}, nil
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

// overviewRows queries a site's overview at once. A site known only from
// a gateway status has no data to find.
func (c *Console) overviewRows(ctx context.Context, s siteInfo, now, midnight time.Time) (overviewInputs, error) {
	var in overviewInputs
	bucket, site := store.FluxString(c.opts.Store.Bucket()), store.FluxString(s.ID)
	// Ranges are absolute, from the console's clock; a minute past now
	// takes in samples stamped by a gateway clock slightly ahead.
	stop := store.FluxTime(now.Add(time.Minute))
	q := func(dst *[]row, flux string, a ...any) func() error {
		return func() (err error) {
			if s.statusOnly {
				return nil
			}
			*dst, err = queryRows(ctx, c.opts.Store, fmt.Sprintf(flux, a...))
			return err
		}
	}
	// Bare last() and count() right after a filter are answered by
	// InfluxDB's storage without reading every sample.
	err := parallel(
		q(&in.last, `from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => r.site == %s and r._field == "_seq") |> last()`,
			bucket, store.FluxTime(now.Add(-7*24*time.Hour)), stop, site),
		q(&in.today, `from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => r.site == %s and r._field == "_seq") |> count()`,
			bucket, store.FluxTime(midnight), stop, site),
		q(&in.recent, `from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => r.site == %s and r._field == "_seq") |> count()`,
			bucket, store.FluxTime(now.Add(-10*time.Minute)), stop, site),
		q(&in.eff, `from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => r._measurement == "boiler_efficiency" and r.site == %s and r.period == "1h") |> filter(fn: (r) => %s) |> last()`,
			bucket, store.FluxTime(now.Add(-48*time.Hour)), stop, site, store.OneOf("_field", "direct", "indirect", "limit", "grade")),
		q(&in.load, `from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => r.site == %s and r._field == "load") |> last()`,
			bucket, store.FluxTime(now.Add(-time.Hour)), stop, site),
		q(&in.dq, `from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => r._measurement == "data_quality" and r.site == %s and r.kind == "completeness" and r._field == "completeness") |> last()`,
			bucket, store.FluxTime(midnight.AddDate(0, 0, -1)), stop, site),
		func() (err error) {
			if !s.statusOnly {
				in.boilers, err = c.boilers(ctx, s.ID)
			}
			return err
		},
	)
	return in, err
}

// overviewDevKey is a device of a gateway.
type overviewDevKey struct{ gw, dev string }

// overviewGateways are a site's gateways and devices: the status
// watcher's, plus any device with samples in the last 7 days, with
// today's completeness (elapsed since local midnight).
func (c *Console) overviewGateways(site string, in overviewInputs, elapsed time.Duration) []overviewGateway {
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
// their latest load.
func overviewBoilers(boilers []boilerInfo, eff, load []row) []overviewBoiler {
	out := []overviewBoiler{}
	for _, b := range boilers {
		ob := overviewBoiler{boilerInfo: b}
		for _, r := range eff {
			if r.Tags["boiler"] != b.Name {
				continue
			}
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
			for _, r := range load {
				if r.Tags["device"] == ref.Device {
					if f, ok := r.Float(); ok {
						f *= ref.Factor
						t := r.Time.Unix()
						ob.Load, ob.LoadAt = &f, &t
					}
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
