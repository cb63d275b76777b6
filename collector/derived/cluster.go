package derived

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/cluster"
	"github.com/boilerwatch/boilerwatch/collector/energy"
)

// Membership says which collectors are live (cluster.Membership); with
// one, the runner computes only the boilers and meters it owns
// (docs/collectors.md).
type Membership interface {
	View() cluster.View
}

// errHandover stops a cycle whose ownership changed while it ran: what it
// computed is not written (alerts not published), and the subjects it
// still owns start again from their stored progress.
var errHandover = errors.New("ownership changed during the cycle")

// units gives each subject its unit of ownership: a boiler with the
// meters its unit_consumption names (their windows are related in
// memory, energy.Engine.Relate), joined when boilers share a meter; every
// other meter alone. A unit is named by the site and its first subject.
func (r *Runner) units() {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if p, ok := parent[x]; ok && p != x {
			root := find(p)
			parent[x] = root
			return root
		}
		return x
	}
	union := func(a, b string) {
		if ra, rb := find(a), find(b); ra != rb {
			parent[rb] = ra
		}
	}
	for _, s := range r.subjects {
		parent[s.name] = s.name
	}
	for _, b := range r.eng.Boilers {
		if u := b.Cfg.UnitConsumption; u != nil {
			for _, m := range append([]string{u.Product}, u.Energy...) {
				if _, ok := parent[meterSubject(m)]; ok {
					union(boilerSubject(b.Cfg.Name), meterSubject(m))
				}
			}
		}
	}
	for _, s := range r.subjects {
		s.unit = s.site + "/" + find(s.name)
	}
}

// assign keeps, of a site's subjects, those this collector computes now:
// owned under view, and for at least the handover time. A subject it no
// longer owns stops at once, forgetting its place; whoever owns it next
// starts from its stored progress.
func (r *Runner) assign(subs []*subject, view cluster.View) []*subject {
	now := r.o.Now()
	var active []*subject
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range subs {
		if !view.Owns(s.unit) {
			if s.active || !s.ownedAt.IsZero() {
				r.log.Info("cluster: no longer computing", "subject", s.name, "owner", cluster.Owner(s.unit, view.Members))
			}
			s.active, s.ownedAt, s.started = false, time.Time{}, false
			s.markers, s.wm, s.wmMoved = nil, time.Time{}, time.Time{}
			continue
		}
		if s.ownedAt.IsZero() {
			s.ownedAt = now
			r.log.Info("cluster: taking over after the handover time", "subject", s.name, "handover", r.o.Handover)
		}
		if !s.active && now.Sub(s.ownedAt) >= r.o.Handover {
			s.active, s.started, s.dirty = true, false, time.Time{}
		}
		if s.active {
			active = append(active, s)
		}
	}
	return active
}

// owns reports whether this collector still computes the boiler's unit,
// checked just before an alert is published.
func (r *Runner) owns(site, boiler string) bool {
	if r.o.Cluster == nil {
		return true
	}
	v := r.o.Cluster.View()
	for _, s := range r.subjects {
		if s.site == site && s.boiler != nil && s.boiler.Cfg.Name == boiler {
			return v.Owns(s.unit)
		}
	}
	return false
}

// peerLateSince bounds the markers peerLate reads every cycle: a sample
// older than the counters' baseline reach (35 days) is not recomputed.
const peerLateSince = "-35d"

// peerLate takes the late markers other collectors stored for subs (their
// ingest wrote samples behind this collector's computing, see Late) into
// the subjects' late data, to be computed again this cycle. One query for
// the sites of all subs.
func (r *Runner) peerLate(ctx context.Context, subs []*subject) error {
	if len(subs) == 0 {
		return nil
	}
	late, err := r.storedLate(ctx, sitesOf(subs), peerLateSince)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range subs {
	marker:
		for _, m := range late[s.site][s.name] {
			for _, have := range s.markers {
				if have.Equal(m) {
					continue marker
				}
			}
			s.markers = append(s.markers, m)
			if s.dirty.IsZero() || m.Before(s.dirty) {
				s.dirty = m
			}
		}
	}
	return nil
}

// peerProgressSince bounds the progress records peerProgress reads: an
// owner computing live stores its progress at today's midnight.
const peerProgressSince = "-2d"

// peerProgress notes, for the subjects of subs this collector does not
// compute, the progress their owners stored (Late compares with it): one
// query for their sites.
func (r *Runner) peerProgress(ctx context.Context, subs []*subject) error {
	var others []*subject
	for _, s := range subs {
		if !s.active {
			others = append(others, s)
		}
	}
	if len(others) == 0 {
		return nil
	}
	progress, err := r.storedProgress(ctx, sitesOf(others), peerProgressSince)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range others {
		s.peerNext = progress[s.site][s.name]
	}
	return nil
}

// sitesOf lists the sites of subs, sorted, each once.
func sitesOf(subs []*subject) []string {
	seen := map[string]bool{}
	var sites []string
	for _, s := range subs {
		if !seen[s.site] {
			seen[s.site] = true
			sites = append(sites, s.site)
		}
	}
	sort.Strings(sites)
	return sites
}

// lateElsewhere is Late for a subject this collector does not compute. A
// sample is late when its minute m may have been computed: it is behind
// the progress the owner stored (as of this collector's last cycle), or
// more than the grace behind the newest sample of the subject's devices
// this collector wrote (the owner may have closed minutes since it last
// stored its progress). Every such sample gets its marker: the owner may
// have read and computed an earlier one of the same minute already.
func (r *Runner) lateElsewhere(s *subject, t, m time.Time) bool {
	if t.After(s.seen) {
		s.seen = t
	}
	closed := maxTime(s.peerNext, energy.Floor(s.seen.Add(-r.o.Config.Grace.Duration), energy.Minute, r.o.Config.Location))
	return m.Before(closed)
}
