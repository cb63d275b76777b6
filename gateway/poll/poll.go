// Package poll reads a device's planned requests at its groups' intervals
// and turns each poll of a group into one telemetry sample.
package poll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"syscall"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/bus"
	"github.com/boilerwatch/boilerwatch/gateway/plan"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Reader is the bus a device sits on.
type Reader interface {
	Read(ctx context.Context, unit byte, register profile.RegisterType, start, count int, timeout time.Duration) ([]uint16, time.Time, error)
}

// intoReader reads into a caller's buffer; *bus.Bus implements it, so a
// poll reuses one buffer per request instead of allocating.
type intoReader interface {
	ReadInto(ctx context.Context, dst []uint16, unit byte, register profile.RegisterType, start, count int, timeout time.Duration) ([]uint16, time.Time, error)
}

// Device states, as published in the gateway status.
const (
	Online   = "online"
	Degraded = "degraded"
	Offline  = "offline"
	Unknown  = "unknown"
)

// offlineAfter consecutive polls without any answer mark a device offline.
const offlineAfter = 3

// Busy devices (exception 6) are asked again after busyBackoff, doubling,
// at most busyRetries times.
const (
	busyRetries = 3
	busyBackoff = 50 * time.Millisecond
)

// Device polls one configured device.
type Device struct {
	cfg    fwconfig.Device
	bus    Reader
	log    *slog.Logger
	groups []*group
	// stamp maps the time a response arrived to the sample's timestamp:
	// the identity, except in accelerated simulator runs.
	stamp   func(time.Time) time.Time
	onState func(device string, st telemetry.DeviceState)
	// onPoll and onReadError feed the gateway's metrics; nil is off.
	onPoll      func(device string, took time.Duration)
	onReadError func(device string, err error)
	// planned is the number of requests of the plan made from the config
	// and the holes learned before this start (gateway -plan), before any
	// refused merged read split one.
	planned int
	// learned keeps the holes this device showed across restarts; nil
	// keeps none.
	learned *plan.Learned

	mu       sync.Mutex
	state    string
	lastErr  string
	failures int // consecutive polls in which the device answered nothing
	// While offline the device is probed at probeAt, then again after a
	// backoff that doubles up to cfg.OfflineBackoff.
	probeAt time.Time
	backoff time.Duration
	probing bool
}

// group is the run-time state of one poll group.
type group struct {
	name     string
	interval time.Duration
	points   []*profile.Point // reported in the sample
	// read is every point the group reads (its own and the scale registers
	// they need), numbered by index for the per-poll slots.
	read   []*profile.Point
	index  map[*profile.Point]int
	byName map[string]int

	mu    sync.Mutex // one poll of a group at a time
	reqs  []plan.Request
	slots []slot
	bufs  [][]uint16
	// last holds each counter's last good value, to flag a decrease.
	last map[*profile.Point]float64
	// refused are the reads the device answered with exception 2 or 3; the
	// plan never merges requests back into one of them.
	refused []plan.Span
	leaves  []leaf // reused by every request of a poll
}

// slot is what one poll learned about one point.
type slot struct {
	words []uint16
	err   error
	v     profile.Value // decoded once, on first use
	done  bool
}

// NewDevice plans the device's groups.
func NewDevice(cfg fwconfig.Device, r Reader, log *slog.Logger) *Device {
	return newDevice(cfg, r, log, nil)
}

// newDevice plans the device's groups around the holes learned before.
func newDevice(cfg fwconfig.Device, r Reader, log *slog.Logger, learned *plan.Learned) *Device {
	if len(cfg.Groups) == 0 && cfg.Spec != nil {
		// A config built in code rather than loaded: one group of every point.
		g := fwconfig.Group{Interval: cfg.Interval.Duration}
		for i := range cfg.Spec.Points {
			g.Points = append(g.Points, &cfg.Spec.Points[i])
		}
		cfg.Groups = []fwconfig.Group{g}
	}
	if cfg.MaxRegisters == 0 {
		cfg.MaxRegisters, cfg.MaxBits = fwconfig.MaxReadRegisters, fwconfig.MaxReadBits
	}
	if cfg.OfflineBackoff.Duration < cfg.Interval.Duration {
		cfg.OfflineBackoff.Duration = max(cfg.Interval.Duration, time.Minute)
	}
	d := &Device{
		cfg:     cfg,
		bus:     r,
		log:     log.With("device", cfg.Name),
		state:   Unknown,
		stamp:   func(t time.Time) time.Time { return t },
		learned: learned,
	}
	holes := learned.Holes(cfg.Name, cfg.Spec.Name)
	if len(holes) > 0 {
		d.log.Info("planning around the holes the device showed before", "holes", fmt.Sprint(holes), "file", learned.Path())
	}
	for _, pg := range plan.Device(&d.cfg, holes...) {
		g := &group{name: pg.Name, interval: pg.Interval, points: pg.Points, reqs: pg.Requests,
			index: map[*profile.Point]int{}, byName: map[string]int{}, last: map[*profile.Point]float64{}}
		for _, r := range pg.Requests {
			for _, p := range r.Points {
				g.index[p], g.byName[p.Name] = len(g.read), len(g.read)
				g.read = append(g.read, p)
			}
		}
		g.slots = make([]slot, len(g.read))
		d.groups = append(d.groups, g)
		d.planned += len(pg.Requests)
	}
	return d
}

// Plan is the device's current requests, every group's in turn. It
// changes when the device refuses a merged read.
func (d *Device) Plan() []plan.Request {
	var out []plan.Request
	for _, g := range d.groups {
		g.mu.Lock()
		out = append(out, g.reqs...)
		g.mu.Unlock()
	}
	return out
}

// PlannedRoundTrips is the requests of one poll of every group as planned
// from the config, what gateway -plan prints; len(Plan()) is the current
// number, larger once the device refused a merged read.
func (d *Device) PlannedRoundTrips() int { return d.planned }

// Name is the configured device name.
func (d *Device) Name() string { return d.cfg.Name }

// Groups is the number of poll groups.
func (d *Device) Groups() int { return len(d.groups) }

// State returns the device's health.
func (d *Device) State() telemetry.DeviceState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return telemetry.DeviceState{State: d.state, LastError: d.lastErr}
}

// Poll reads every group once and returns all values in one sample, for
// one-off reads (tests, diagnostics); Run publishes one sample per group.
func (d *Device) Poll(ctx context.Context) telemetry.Sample {
	var s telemetry.Sample
	for i := range d.groups {
		gs := d.PollGroup(ctx, i)
		if s.Values == nil {
			s = gs
			continue
		}
		for k, v := range gs.Values {
			s.Values[k] = v
		}
		s.TS = max(s.TS, gs.TS)
	}
	return s
}

// PollGroup performs one poll of group i. Every point of the group gets a
// value with a quality; a point that could not be read is bad with the
// reason, never an older value.
func (d *Device) PollGroup(ctx context.Context, i int) telemetry.Sample {
	g := d.groups[i]
	g.mu.Lock()
	defer g.mu.Unlock()
	if d.onPoll != nil {
		start := time.Now()
		defer func() { d.onPoll(d.cfg.Name, time.Since(start)) }()
	}
	s := telemetry.Sample{
		Device:  d.cfg.Name,
		Profile: d.cfg.Spec.Name,
		Class:   d.cfg.Spec.MeasurementName(),
		Values:  valueMap(len(g.points)),
	}
	clear(g.slots)
	var last time.Time
	var firstErr, noAnswer error
	failed, silent, total := 0, 0, 0
	// replanned stays nil unless the device refuses a merged read this poll.
	var replanned []plan.Request
	next := len(g.reqs) // the first request not sent, when cancelled
	for ri, r := range g.reqs {
		if noAnswer != nil {
			// A device that did not answer one request will not answer the
			// next: asking costs the bus a timeout each, which the other
			// devices on it would pay.
			g.fail(r, fmt.Errorf("not read: %w", noAnswer))
			failed++
			silent++
			total++
			if replanned != nil {
				replanned = append(replanned, r)
			}
			continue
		}
		leaves := d.readIsolating(ctx, g, ri, r, g.leaves[:0])
		g.leaves = leaves[:0]
		switch {
		case len(leaves) > 1:
			if replanned == nil {
				replanned = append(make([]plan.Request, 0, len(g.reqs)+len(leaves)), g.reqs[:ri]...)
			}
			reqs := make([]plan.Request, len(leaves))
			alone := make([]bool, len(leaves))
			for i, lf := range leaves {
				reqs[i], alone[i] = lf.req, lf.err != nil
			}
			replanned = append(replanned, plan.Rejoin(reqs, alone, g.refused)...)
		case replanned != nil:
			replanned = append(replanned, r)
		}
		for _, lf := range leaves {
			total++
			if lf.err != nil {
				failed++
				if _, exc := bus.ExceptionCode(lf.err); !exc {
					silent++
				}
				if firstErr == nil {
					firstErr = lf.err
				}
				if noAnswer == nil && bus.NoAnswer(lf.err) {
					noAnswer = lf.err
				}
				continue
			}
			last = lf.at
		}
		if ctx.Err() != nil {
			next = ri + 1
			break
		}
	}
	if replanned != nil {
		// Stopped early (cancelled): keep the rest of the old plan.
		replanned = append(replanned, g.reqs[next:]...)
		d.log.Warn("device refused a merged read; polling the refused addresses on their own from now on",
			"group", g.name, "requests_before", len(g.reqs), "requests_after", len(replanned))
		g.reqs = replanned
	}
	for _, p := range g.points {
		s.Values[p.Name] = g.value(d, p)
	}
	if last.IsZero() {
		last = time.Now()
	}
	s.TS = d.stamp(last).UnixMilli()
	if ctx.Err() == nil {
		d.record(failed, silent, total, firstErr)
	}
	return s
}

// valueMaps holds the maps of samples handed back with Recycle.
var valueMaps sync.Pool

// valueMap returns an empty map for n values, recycled if one is at hand.
func valueMap(n int) map[string]telemetry.Value {
	if m, ok := valueMaps.Get().(map[string]telemetry.Value); ok {
		return m
	}
	return make(map[string]telemetry.Value, n)
}

// Recycle hands back a sample's map of values once the sample is no longer
// used (the gateway encodes each sample once, then recycles it), so that a
// later poll fills it instead of allocating a map: on a gateway polling a
// hundred groups a second these maps were most of its garbage. Nothing may
// read s.Values after Recycle.
func Recycle(s telemetry.Sample) {
	if s.Values != nil {
		clear(s.Values)
		valueMaps.Put(s.Values)
	}
}

// leaf is the outcome of one request actually sent.
type leaf struct {
	req plan.Request
	at  time.Time
	err error
}

// readIsolating reads r; if the device refuses it with exception 2 or 3
// and it carries several points, it reads the halves instead, recursively,
// until the refused address is alone in its request. Only that point is
// bad; the returned leaves are the device's plan from now on.
func (d *Device) readIsolating(ctx context.Context, g *group, ri int, r plan.Request, out []leaf) []leaf {
	words, at, err := d.read(ctx, g, ri, r)
	if err == nil {
		g.fill(r, words)
		return append(out, leaf{req: r, at: at})
	}
	code, exc := bus.ExceptionCode(err)
	if exc && (code == 2 || code == 3) {
		if a, b, ok := plan.Split(r); ok {
			g.refused = append(g.refused, plan.SpanOf(r))
			d.log.Debug("merged read refused, splitting", "register", r.Register, "start", r.Start, "count", r.Count, "exception", code)
			// Halves are not in the plan yet: no reusable buffer (ri -1).
			na := len(out)
			out = d.readIsolating(ctx, g, -1, a, out)
			if last := out[len(out)-1]; last.err != nil && bus.NoAnswer(last.err) {
				g.fail(b, fmt.Errorf("not read: %w", last.err))
				return append(out, leaf{req: b, err: last.err})
			}
			nb := len(out)
			out = d.readIsolating(ctx, g, -1, b, out)
			// Both halves answered at once: the address the device
			// refused is one the read bridged between them.
			if code == 2 && nb == na+1 && out[na].err == nil && len(out) == nb+1 && out[nb].err == nil && b.Start > a.End() {
				d.learn(plan.Carve(plan.Span{Register: r.Register, Start: a.End(), Count: b.Start - a.End()}, d.profilePoints()))
			}
			return out
		}
	}
	if exc && code == 2 {
		// Refused on its own: the point (or register) is not in the map.
		// It is still asked every poll, but never again with others.
		d.learn([]plan.Span{plan.SpanOf(r)})
	}
	g.fail(r, err)
	return append(out, leaf{req: r, err: err})
}

// profilePoints are every point of the device's profile.
func (d *Device) profilePoints() []*profile.Point {
	ps := make([]*profile.Point, len(d.cfg.Spec.Points))
	for i := range d.cfg.Spec.Points {
		ps[i] = &d.cfg.Spec.Points[i]
	}
	return ps
}

// learn records holes the device showed, so that the next start plans
// around them instead of paying the exception again.
func (d *Device) learn(holes []plan.Span) {
	if d.learned == nil || len(holes) == 0 {
		return
	}
	changed, err := d.learned.Add(d.cfg.Name, d.cfg.Spec.Name, holes...)
	if changed {
		d.log.Info("device refused a bridged read: hole learned, never bridged again, also after a restart",
			"holes", fmt.Sprint(holes), "file", d.learned.Path())
	}
	if err != nil {
		d.log.Warn("learned hole not saved: the next start pays the exception again", "error", err)
	}
}

// read sends one request, asking a busy device again with backoff.
func (d *Device) read(ctx context.Context, g *group, ri int, r plan.Request) ([]uint16, time.Time, error) {
	wait := busyBackoff
	for attempt := 0; ; attempt++ {
		var words []uint16
		var at time.Time
		var err error
		if ir, ok := d.bus.(intoReader); ok && ri >= 0 {
			for len(g.bufs) <= ri {
				g.bufs = append(g.bufs, nil)
			}
			words, at, err = ir.ReadInto(ctx, g.bufs[ri], byte(d.cfg.UnitID), r.Register, r.Start, r.Count, d.cfg.Timeout.Duration)
			if err == nil {
				g.bufs[ri] = words
			}
		} else {
			words, at, err = d.bus.Read(ctx, byte(d.cfg.UnitID), r.Register, r.Start, r.Count, d.cfg.Timeout.Duration)
		}
		if code, ok := bus.ExceptionCode(err); !ok || code != 6 || attempt == busyRetries {
			if err != nil {
				if d.onReadError != nil && ctx.Err() == nil {
					d.onReadError(d.cfg.Name, err)
				}
				err = fmt.Errorf("device %s: %w", d.cfg.Name, err)
			}
			return words, at, err
		}
		d.log.Debug("device busy, asking again", "register", r.Register, "start", r.Start, "wait", wait)
		if sleep(ctx, wait) != nil {
			return nil, time.Time{}, fmt.Errorf("device %s: %w", d.cfg.Name, ctx.Err())
		}
		wait *= 2
	}
}

// fill hands each point of a read request its words.
func (g *group) fill(r plan.Request, words []uint16) {
	for _, p := range r.Points {
		off := p.Address - r.Start
		g.slots[g.index[p]] = slot{words: words[off : off+p.Words()], done: true}
	}
}

func (g *group) fail(r plan.Request, err error) {
	for _, p := range r.Points {
		g.slots[g.index[p]] = slot{err: err, done: true}
	}
}

// decode returns the point's value in this poll, decoding once.
func (g *group) decode(p *profile.Point) (profile.Value, error) {
	i, ok := g.index[p]
	if !ok {
		return profile.Value{}, fmt.Errorf("point %s: %w", p.Name, errNotPlanned)
	}
	sl := &g.slots[i]
	if !sl.done {
		return profile.Value{}, fmt.Errorf("point %s was not read", p.Name)
	}
	if sl.err != nil || sl.v.Kind != profile.KindNone {
		return sl.v, sl.err
	}
	factor := 1.0
	if len(p.ScaleFrom) > 0 {
		f, err := p.ScaleFrom.Factor(func(name string) (float64, error) {
			src, ok := g.byName[name]
			if !ok {
				return 0, errNotPlanned
			}
			v, err := g.decode(g.read[src])
			if err != nil {
				return 0, err
			}
			return v.Num, nil
		})
		if err != nil {
			sl.err = fmt.Errorf("point %s: %w", p.Name, err)
			return profile.Value{}, sl.err
		}
		factor = f
	}
	sl.v, sl.err = p.DecodeWith(sl.words, factor)
	return sl.v, sl.err
}

// value is the reported value of one of the group's points.
func (g *group) value(d *Device, p *profile.Point) telemetry.Value {
	r, err := g.decode(p)
	if err != nil {
		return telemetry.BadValue(errText(err))
	}
	v := wireValue(r)
	if p.Counter && v.Kind == telemetry.KindNumber {
		if prev, seen := g.last[p]; seen && v.Num < prev {
			// A total that went down was reset or its meter replaced:
			// flagged, so that nobody books prev-f as negative use.
			v.Reset = true
			d.log.Warn("counter decreased: meter reset or replaced", "point", p.Name, "from", prev, "to", v.Num)
		}
		g.last[p] = v.Num
	}
	return v
}

// wireValue is a decoded reading as a good published value.
func wireValue(r profile.Value) telemetry.Value {
	switch r.Kind {
	case profile.KindNumber:
		return telemetry.Number(r.Num)
	case profile.KindBool:
		return telemetry.Boolean(r.Bool)
	case profile.KindString:
		return telemetry.Text(r.Str)
	}
	return telemetry.BadValue("no value decoded")
}

// errText is the reason a value is bad, as published: short, and the
// Modbus error itself where there is one. Errors from the network, the
// Modbus library or a device can hold line breaks, control or bidi
// characters, which the collector refuses in an err (a whole message would
// be lost), so they are cleaned; the cut falls on a character boundary,
// where a byte cut could split a character into invalid UTF-8.
func errText(err error) string {
	return telemetry.CleanText(err.Error(), 200)
}

// record updates the device state after a poll of total requests, of which
// failed failed and silent got no valid answer at all.
func (d *Device) record(failed, silent, total int, err error) {
	d.mu.Lock()
	prev := d.state
	now := time.Now()
	switch {
	case failed == 0:
		d.failures = 0
		d.state = Online
		d.lastErr = ""
		d.backoff = 0
	case silent < total:
		// It answered something, if only an exception: it is there.
		d.failures = 0
		d.state = Degraded
		d.lastErr = errText(err)
		d.backoff = 0
	default:
		d.failures++
		d.lastErr = errText(err)
		if d.failures >= offlineAfter {
			d.state = Offline
			if refused(err) {
				// Refused at once: asking costs the bus nothing, so the
				// device is asked at every interval and read again within
				// one interval of its return.
				d.backoff = 0
				d.probeAt = time.Time{}
			} else {
				// No answer within the timeout costs the bus a timeout,
				// which the other devices on it pay: probe less often
				// while it stays away, interval, 2×, 4×... up to the
				// configured cap.
				d.backoff = min(max(2*d.backoff, d.minInterval()), d.cfg.OfflineBackoff.Duration)
				d.probeAt = now.Add(d.backoff)
			}
		} else {
			d.state = Degraded
		}
	}
	d.probing = false
	st := telemetry.DeviceState{State: d.state, LastError: d.lastErr}
	d.mu.Unlock()
	if st.State != prev {
		d.log.Info("device state", "from", prev, "to", st.State, "error", st.LastError)
		if d.onState != nil {
			d.onState(d.cfg.Name, st)
		}
	}
}

// refused reports whether a device that answered nothing was refused the
// connection (nothing listens on its port: the device or its converter is
// restarting), which fails at once, as opposed to a timeout, which holds
// the bus for the device's timeout.
func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

func (d *Device) minInterval() time.Duration {
	iv := time.Duration(math.MaxInt64)
	for _, g := range d.groups {
		iv = min(iv, g.interval)
	}
	return iv
}

// due reports whether a group should poll now: always, except while the
// device is offline and its next probe is not due (or another group is
// probing it).
func (d *Device) due(now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != Offline {
		return true
	}
	if d.probing || now.Before(d.probeAt) {
		return false
	}
	d.probing = true
	return true
}

// Run polls every group at its interval, aligned to the wall clock (a 10 s
// interval polls at :00, :10, ...) so that polls do not drift, and hands
// every sample to out. It returns when ctx is done.
func (d *Device) Run(ctx context.Context, out func(telemetry.Sample)) {
	var gs []scheduled
	for i := range d.groups {
		gs = append(gs, scheduled{d: d, group: i})
	}
	runScheduled(ctx, gs, out)
}

// scheduled is one group of one device and when it polls next.
type scheduled struct {
	d     *Device
	group int
	next  time.Time
}

// runScheduled polls the groups in one goroutine, each at its interval
// aligned to the wall clock, in turn as they fall due (in the order given
// when several are due at once), and hands every sample to out; a poll
// that overruns a group's next turn skips it. It returns when ctx is done.
// The groups of the devices on one bus go through one such goroutine:
// their requests take turns on the bus anyway, and a goroutine per group
// cost a wake-up and a hand-over to the bus per group and poll.
func runScheduled(ctx context.Context, gs []scheduled, out func(telemetry.Sample)) {
	if len(gs) == 0 {
		return
	}
	now := time.Now()
	for k := range gs {
		gs[k].next = nextTurn(now, gs[k].d.groups[gs[k].group].interval)
	}
	// One timer for the goroutine's life: a new one per poll cost two
	// allocations per poll.
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		first := gs[0].next
		for _, g := range gs[1:] {
			if g.next.Before(first) {
				first = g.next
			}
		}
		t.Reset(time.Until(first))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for k := range gs {
			g := &gs[k]
			now := time.Now()
			if now.Before(g.next) {
				continue
			}
			if g.d.due(now) {
				s := g.d.PollGroup(ctx, g.group)
				if ctx.Err() != nil {
					return
				}
				out(s)
				now = time.Now()
			}
			g.next = nextTurn(now, g.d.groups[g.group].interval)
		}
	}
}

// nextTurn is the first multiple of iv on the wall clock after now.
func nextTurn(now time.Time, iv time.Duration) time.Time {
	return now.Truncate(iv).Add(iv)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// errNotPlanned guards against a plan that lost a point.
var errNotPlanned = errors.New("point not planned")
