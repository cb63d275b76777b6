// Package console is the auditor console: web pages for energy auditors and
// boiler-room engineers, and the JSON API behind them, served by the
// collector from embedded assets (docs/console.md, docs/api.md).
//
// Every page and API call needs a login session, except the login form
// itself; the collector keeps /healthz and /readyz outside the console.
// The API reads InfluxDB with Flux and downsamples on the server, so a
// series never carries more than about maxPoints points to the browser.
package console

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/console/password"
	"github.com/boilerwatch/boilerwatch/collector/derived"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

//go:embed assets
var assetFS embed.FS

// Options configure a console.
type Options struct {
	Store  Querier
	Config config.Console
	// Energy is the engine's configuration, nil when the engine is off:
	// it names the boilers, their inputs, rated output and limit, and the
	// meters. Without it the console shows what InfluxDB holds.
	Energy *config.Energy
	// MQTT is where the gateways' status comes from; no Broker, no
	// status (devices then show their last sample only).
	MQTT    MQTTOptions
	Logger  *slog.Logger
	Version string
	// Now is the clock, for tests; default time.Now.
	Now func() time.Time
	// Registered says whether the collector's gateway registry knows a
	// gateway; nil means there is no registry. With one, the console keeps
	// the retained status of registered gateways only; without, at most
	// Config.MaxGateways statuses, dropping the one heard from least
	// recently.
	Registered func(site, gateway string) bool
	// Events records the fleet alerts' episodes (the events measurement,
	// as the engine records its own: derived.Episodes), so that a
	// collector restart does not raise an open episode again; nil keeps
	// them in memory only.
	Events derived.Store
}

// Console serves the web console.
type Console struct {
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	status   statusBook
	sessions sessionStore
	users    map[string]user
	static   fs.FS
	tmpl     *template.Template
	cop      *http.CrossOriginProtection
	defLoc   *time.Location
	// dummy is checked when a login names no user, so that an unknown
	// name costs as much time as a wrong password.
	dummy password.Parsed
	// guard throttles failed logins; hashes bounds the password checks
	// running at once, each waiting at most hashWait for a slot.
	guard    *loginGuard
	hashes   hashSlots
	hashWait time.Duration
	// match checks a password; a hook for tests that count the checks.
	match func(password.Parsed, string) bool
	// notes rate-limits the status watcher's warnings (noteStatus).
	notesMu sync.Mutex
	notes   map[string]*statusNote
	// tags caches tag-value lookups (sites, boilers) for tagsTTL: every
	// API call resolves its site and boiler, and they rarely change.
	tagsMu sync.Mutex
	tags   map[string]cachedTags
	// alerts are the fleet's open alert episodes (fleet.go).
	alerts fleetAlerts
	// updates are the gateways' last software update reports (updates.go).
	updates updateBook
}

type cachedTags struct {
	vals    []string
	expires time.Time
}

// tagsTTL bounds how long a new site or boiler stays unseen.
const tagsTTL = 30 * time.Second

type user struct {
	name, role string
	hash       password.Parsed
	// sites limits the user to these sites; nil: every site.
	sites map[string]bool
}

// New prepares a console; Run starts its status watcher.
func New(o Options) (*Console, error) {
	if o.Store == nil {
		return nil, errors.New("console: no store")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg := o.Config
	if cfg.SessionTTL.Duration <= 0 {
		cfg.SessionTTL.Duration = 12 * time.Hour
	}
	if cfg.SecureCookie == "" {
		cfg.SecureCookie = "auto"
	}
	// A config that was never parsed (tests, or built in code) gets the
	// defaults the parser would have set.
	if cfg.Login.UserFailures <= 0 {
		cfg.Login.UserFailures = config.DefaultLoginUserFailures
	}
	if cfg.Login.AddressFailures <= 0 {
		cfg.Login.AddressFailures = config.DefaultLoginAddressFailures
	}
	if cfg.Login.MaxDelay.Duration <= 0 {
		cfg.Login.MaxDelay.Duration = config.DefaultLoginMaxDelay
	}
	if cfg.Login.Hashes <= 0 {
		cfg.Login.Hashes = config.DefaultLoginHashes
	}
	if cfg.MaxGateways <= 0 {
		cfg.MaxGateways = config.DefaultMaxGateways
	}
	o.Config = cfg
	c := &Console{opts: o, log: o.Logger.With("component", "console"), now: o.Now, users: map[string]user{},
		guard:  newLoginGuard(cfg.Login.UserFailures, cfg.Login.AddressFailures, cfg.Login.MaxDelay.Duration),
		hashes: make(hashSlots, cfg.Login.Hashes), hashWait: hashWait, match: password.Parsed.Match}
	c.status.registered = o.Registered
	c.status.max = cfg.MaxGateways
	iter := 0
	for _, u := range cfg.Users {
		h, err := password.Parse(u.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("console: user %s: %w", u.Name, err)
		}
		nu := user{name: u.Name, role: u.Role, hash: h}
		if u.Sites != nil {
			nu.sites = map[string]bool{}
			for _, s := range u.Sites {
				nu.sites[s] = true
			}
		}
		c.users[u.Name] = nu
		iter = max(iter, h.Iterations())
	}
	if iter == 0 {
		iter = password.Iterations
	}
	// The stand-in costs what the users' hashes cost, so the time of an
	// answer does not tell whether a name exists.
	dummy, err := password.Hash("no such user", iter)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	c.dummy, _ = password.Parse(dummy)
	c.sessions.ttl = cfg.SessionTTL.Duration

	c.defLoc = cfg.Location
	if c.defLoc == nil && o.Energy != nil && o.Energy.Location != nil {
		c.defLoc = o.Energy.Location
	}
	if c.defLoc == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			// No tzdata on the host: China has had no DST since 1991.
			loc = time.FixedZone("Asia/Shanghai", 8*3600)
		}
		c.defLoc = loc
	}
	c.static, err = fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("console: assets: %w", err)
	}
	c.tmpl, err = template.New("").Funcs(templateFuncs).ParseFS(assetFS, "assets/templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	c.cop = http.NewCrossOriginProtection()
	for _, origin := range cfg.TrustedOrigins {
		if err := c.cop.AddTrustedOrigin(origin); err != nil {
			return nil, fmt.Errorf("console: trusted origin %q: %w", origin, err)
		}
	}
	c.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		http.Error(w, "cross-origin request refused: log in from the console's own page", http.StatusForbidden)
	}))
	return c, nil
}

// Run watches the gateways' status until ctx is done.
func (c *Console) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { c.watchFleet(ctx) })
	if c.opts.MQTT.Broker == "" {
		<-ctx.Done()
		return
	}
	c.watchStatus(ctx)
}

// Handler serves the console: the login form, the pages and /api/. Mount
// it at "/" after the unauthenticated /healthz and /readyz.
func (c *Console) Handler() http.Handler {
	public := http.NewServeMux()
	public.HandleFunc("GET /login", c.loginPage)
	public.HandleFunc("POST /login", c.login)
	public.HandleFunc("GET /assets/login.css", c.serveAsset)

	private := http.NewServeMux()
	private.HandleFunc("POST /logout", c.logout)
	private.HandleFunc("GET /{$}", c.serveIndex)
	private.HandleFunc("GET /assets/", c.serveAsset)
	private.HandleFunc("GET /api/me", c.apiMe)
	private.HandleFunc("GET /api/sites", c.apiSites)
	private.HandleFunc("GET /api/overview", c.apiOverview)
	private.HandleFunc("GET /api/fleet", c.apiFleet)
	private.HandleFunc("GET /api/boiler", c.view(c.boilerView))
	private.HandleFunc("GET /api/energy", c.view(c.energyView))
	private.HandleFunc("GET /api/quality", c.view(c.qualityView))
	private.HandleFunc("GET /report", c.report)
	private.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no API %s %s (see docs/api.md)", r.Method, r.URL.Path))
	})
	public.Handle("/", c.requireLogin(private))
	return securityHeaders(c.cop.Handler(public))
}

// securityHeaders forbid framing, sniffing and any script or style not
// served by the console itself.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

func (c *Console) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	http.ServeFileFS(w, r, c.static, "index.html")
}

// serveAsset serves the embedded files under /assets/, never the
// templates.
func (c *Console) serveAsset(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/assets/")
	if p == "" || strings.HasPrefix(p, "templates/") || strings.Contains(p, "..") || strings.HasSuffix(p, "/") {
		http.NotFound(w, r)
		return
	}
	// The assets change only with the binary; a short cache keeps an
	// upgrade visible within minutes.
	w.Header().Set("Cache-Control", "private, max-age=300")
	http.ServeFileFS(w, r, c.static, p)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// fail answers an error: 400 with its message when the client caused it,
// 504 when the query ran out of time, else 502 (InfluxDB failed) with the
// details in the log only.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case isBadRequest(err):
		writeError(w, http.StatusBadRequest, err.Error())
	case isNotFound(err):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		c.log.Warn("query timed out", "path", r.URL.Path, "query", r.URL.RawQuery, "error", err)
		writeError(w, http.StatusGatewayTimeout, "the database did not answer in time; choose a shorter range")
	case errors.Is(err, context.Canceled):
		// The browser went away.
	default:
		c.log.Error("query failed", "path", r.URL.Path, "query", r.URL.RawQuery, "error", err)
		writeError(w, http.StatusBadGateway, "the database query failed; see the collector's log")
	}
}

// queryTimeout bounds one API call's queries.
const queryTimeout = 30 * time.Second

// siteInfo describes a site.
type siteInfo struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	TZ    string `json:"tz"`
	loc   *time.Location
	// statusOnly: the site is known only from a gateway status, neither
	// configured nor with data in InfluxDB, so no query can find
	// anything of it.
	statusOnly bool
}

// boilerInfo describes a boiler: from the engine's config when it has
// one, else discovered from InfluxDB.
type boilerInfo struct {
	Site       string    `json:"site"`
	Name       string    `json:"name"`
	RatedSteam float64   `json:"rated_steam,omitempty"`
	Method     string    `json:"method,omitempty"`
	Firing     string    `json:"firing,omitempty"`
	Fuel       string    `json:"fuel,omitempty"`
	Limit      *float64  `json:"limit,omitempty"`
	Grades     []float64 `json:"grades,omitempty"`
	// inputs maps an input (steam_flow, coal_feed, exhaust_temp, o2,
	// load) to the device and point it is read from, with the factor to
	// its canonical unit.
	inputs map[string]inputRef
}

type inputRef struct {
	Device, Point string
	Factor        float64
}

// meterInfo describes a configured meter.
type meterInfo struct {
	Site, Name, Device, Point, EnergyType, Unit string
	Interval                                    time.Duration
}

func (c *Console) site(id string) siteInfo {
	s := siteInfo{ID: id, Title: id, loc: c.defLoc}
	for _, cs := range c.opts.Config.Sites {
		if cs.ID == id {
			if cs.Title != "" {
				s.Title = cs.Title
			}
			if cs.Location != nil {
				s.loc = cs.Location
			}
		}
	}
	s.TZ = s.loc.String()
	return s
}

// sites lists the known sites the request's user may see: configured
// ones, those with a gateway status, and those with data in InfluxDB in
// the last 400 days.
func (c *Console) sites(ctx context.Context) ([]siteInfo, error) {
	ids := map[string]bool{} // id: known from more than a status
	for _, s := range c.opts.Config.Sites {
		ids[s.ID] = true
	}
	if e := c.opts.Energy; e != nil {
		for _, b := range e.Boilers {
			ids[b.Site] = true
		}
		for _, m := range e.Meters {
			ids[m.Site] = true
		}
	}
	vals, err := c.tagValues(ctx, "site", "true")
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		ids[v] = true
	}
	for _, g := range c.status.list("") {
		if _, ok := ids[g.Site]; !ok {
			ids[g.Site] = false
		}
	}
	out := make([]siteInfo, 0, len(ids))
	for id, more := range ids {
		if !inScope(ctx, id) {
			continue
		}
		s := c.site(id)
		s.statusOnly = !more
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// knownSite resolves a site parameter: it must be a valid name; an
// unknown site is a 400 (no data can exist for it). A site outside the
// user's scope is a 404, whether it exists or not, decided before
// anything is queried.
func (c *Console) knownSite(ctx context.Context, id string) (siteInfo, error) {
	if !inScope(ctx, id) {
		return siteInfo{}, outOfScope(id)
	}
	all, err := c.sites(ctx)
	if err != nil {
		return siteInfo{}, err
	}
	for _, s := range all {
		if s.ID == id {
			return s, nil
		}
	}
	return siteInfo{}, badf("unknown site %q", id)
}

// tagValues lists the values of tag over the last 400 days among series
// matching pred (a Flux predicate on r). InfluxDB answers it from its
// index; on 1.8 the predicate must not test _field (the index does not
// know fields, and such a predicate matches nothing).
func (c *Console) tagValues(ctx context.Context, tag, pred string) ([]string, error) {
	key := tag + "|" + pred
	now := time.Now()
	c.tagsMu.Lock()
	if e, ok := c.tags[key]; ok && now.Before(e.expires) {
		c.tagsMu.Unlock()
		return e.vals, nil
	}
	c.tagsMu.Unlock()
	vals, err := c.queryTagValues(ctx, tag, pred)
	if err != nil {
		return nil, err
	}
	c.tagsMu.Lock()
	if c.tags == nil || len(c.tags) > 1000 {
		c.tags = map[string]cachedTags{}
	}
	c.tags[key] = cachedTags{vals: vals, expires: now.Add(tagsTTL)}
	c.tagsMu.Unlock()
	return vals, nil
}

func (c *Console) queryTagValues(ctx context.Context, tag, pred string) ([]string, error) {
	flux := fmt.Sprintf(`import "influxdata/influxdb/v1"
v1.tagValues(bucket: %s, tag: %s, predicate: (r) => %s, start: -400d)`, store.FluxString(c.opts.Store.Bucket()), store.FluxString(tag), pred)
	rows, err := queryRows(ctx, c.opts.Store, flux)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rows {
		if s, ok := r.Value.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// canonical units of the boiler inputs the console charts.
var inputUnits = map[string]string{"steam_flow": "t/h", "coal_feed": "t/h", "exhaust_temp": "°C", "o2": "%", "load": "%"}

// boilers lists a site's boilers: configured ones first, then boilers
// with derived values or raw boiler data in InfluxDB. A device a configured
// boiler's points read is that boiler (b0001 on device boiler1), not
// another one.
func (c *Console) boilers(ctx context.Context, site string) ([]boilerInfo, error) {
	var out []boilerInfo
	seen := map[string]bool{}
	claimed := map[string]bool{} // devices of configured boilers
	if e := c.opts.Energy; e != nil {
		for i := range e.Boilers {
			b := &e.Boilers[i]
			if b.Site != site {
				continue
			}
			bi := boilerInfo{Site: site, Name: b.Name, RatedSteam: b.RatedSteam, Method: b.Method, Firing: b.Firing, Fuel: b.Fuel, inputs: map[string]inputRef{}}
			if e.Ref != nil {
				if row, err := e.Ref.Limits.Lookup(b.Firing, b.Fuel, b.RatedSteam); err == nil {
					l := row.Grade3()
					bi.Limit = &l
					bi.Grades = row.Grades[:]
				}
			}
			for in, ref := range b.Points.Named() {
				claimed[ref.Device] = true
				if _, ok := inputUnits[in]; !ok {
					continue
				}
				f, ok := config.PointUnitFactor(config.BoilerPointKinds[in], ref.Unit)
				if !ok {
					f = 1
				}
				bi.inputs[in] = inputRef{Device: ref.Device, Point: ref.Point, Factor: f}
			}
			if _, ok := bi.inputs["load"]; !ok {
				if sf, ok := bi.inputs["steam_flow"]; ok {
					// The profile's own load point sits beside the flow.
					bi.inputs["load"] = inputRef{Device: sf.Device, Point: "load", Factor: 1}
				}
			}
			out = append(out, bi)
			seen[b.Name] = true
		}
	}
	derived, err := c.tagValues(ctx, "boiler", store.And(store.Eq("_measurement", "boiler_efficiency"), store.Eq("site", site)))
	if err != nil {
		return nil, err
	}
	raw, err := c.tagValues(ctx, "device", store.And(store.Eq("_measurement", "boiler"), store.Eq("site", site)))
	if err != nil {
		return nil, err
	}
	var found []string
	for _, n := range raw {
		if claimed[n] {
			seen[n] = true
		}
	}
	for _, n := range append(derived, raw...) {
		if !seen[n] {
			seen[n] = true
			found = append(found, n)
		}
	}
	slices.Sort(found)
	for _, n := range found {
		// Without configuration a boiler's raw data is its own device's,
		// with the point names of the boiler profiles.
		bi := boilerInfo{Site: site, Name: n, inputs: map[string]inputRef{}}
		for in := range inputUnits {
			bi.inputs[in] = inputRef{Device: n, Point: in, Factor: 1}
		}
		out = append(out, bi)
	}
	return out, nil
}

func (c *Console) boiler(ctx context.Context, site, name string) (boilerInfo, error) {
	all, err := c.boilers(ctx, site)
	if err != nil {
		return boilerInfo{}, err
	}
	for _, b := range all {
		if b.Name == name {
			return b, nil
		}
	}
	return boilerInfo{}, badf("unknown boiler %q at site %q", name, site)
}

func (c *Console) meters(site string) []meterInfo {
	var out []meterInfo
	if e := c.opts.Energy; e != nil {
		for _, m := range e.Meters {
			if m.Site == site {
				out = append(out, meterInfo{Site: site, Name: m.Name, Device: m.Device, Point: m.Point, EnergyType: m.EnergyType, Unit: m.Unit, Interval: m.Interval.Duration})
			}
		}
	}
	return out
}

// viewResponse is the answer of a data view (boiler, energy, quality).
type viewResponse struct {
	Site   siteInfo `json:"site"`
	Start  int64    `json:"start"`
	Stop   int64    `json:"stop"`
	Preset string   `json:"preset"`
	Frames []Frame  `json:"frames"`
	// Info carries view-specific figures (limit, period, units).
	Info map[string]any `json:"info,omitempty"`
	// Notes explain what is missing (no derived data yet, a coarser
	// window than asked for).
	Notes []string `json:"notes,omitempty"`
}

func (v *viewResponse) frame(id string) *Frame {
	for i := range v.Frames {
		if v.Frames[i].ID == id {
			return &v.Frames[i]
		}
	}
	return nil
}

// view adapts a view to HTTP: JSON, or one frame as CSV with format=csv.
func (c *Console) view(fn func(ctx context.Context, r *http.Request) (*viewResponse, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
		defer cancel()
		format := r.URL.Query().Get("format")
		if format != "" && format != "json" && format != "csv" {
			c.fail(w, r, badf("format %q: want json or csv", truncate(format, 20)))
			return
		}
		v, err := fn(ctx, r)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if format != "csv" {
			writeJSON(w, v)
			return
		}
		id := r.URL.Query().Get("frame")
		f := v.frame(id)
		if f == nil {
			ids := make([]string, len(v.Frames))
			for i, f := range v.Frames {
				ids[i] = f.ID
			}
			c.fail(w, r, badf("frame %q: want one of %s", truncate(id, 40), strings.Join(ids, ", ")))
			return
		}
		view := strings.TrimPrefix(r.URL.Path, "/api/")
		writeCSV(w, fmt.Sprintf("boilerwatch-%s-%s-%s-%s.csv", v.Site.ID, view, f.ID, time.Unix(v.Start, 0).In(v.Site.loc).Format("20060102-1504")), f, v.Site.loc)
	}
}

func (c *Console) apiMe(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r.Context())
	me := map[string]any{"user": s.user, "role": s.role, "version": c.opts.Version, "expires": s.expires.Unix(), "presets": presets}
	if s.sites != nil {
		me["sites"] = sortedKeys(s.sites)
	}
	writeJSON(w, me)
}

func (c *Console) apiSites(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	sites, err := c.sites(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	type siteOut struct {
		siteInfo
		Boilers []boilerInfo `json:"boilers"`
	}
	out := make([]siteOut, 0, len(sites))
	for _, s := range sites {
		bs, err := c.boilers(ctx, s.ID)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if bs == nil {
			// A site without boilers (no data yet, or a scoped user's
			// new site) is an empty list: the UI maps over it.
			bs = []boilerInfo{}
		}
		out = append(out, siteOut{s, bs})
	}
	writeJSON(w, map[string]any{"sites": out})
}

// parallel runs fns concurrently and returns the first error.
func parallel(fns ...func() error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(fns))
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, cmp.Compare)
	return out
}
