package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

func status(gw string) telemetry.Status {
	return telemetry.Status{V: telemetry.Version, Gateway: gw, State: "online"}
}

func TestStatusBook(t *testing.T) {
	type put struct {
		site, gw string
		want     putResult
	}
	for _, tc := range []struct {
		name       string
		registered func(site, gw string) bool
		max        int
		puts       []put
		remove     string // site/gw
		want       []string
	}{
		{"registry: only registered gateways", func(site, gw string) bool { return site == "plant-a" }, 2, []put{
			{"plant-a", "gw-1", putKept}, {"invented", "gw-1", putUnregistered}, {"plant-a", "gw-2", putKept},
			{"plant-a", "gw-3", putKept}, // a registry is the bound: no cap, no eviction
			{"plant-b", "gw-1", putUnregistered},
		}, "", []string{"plant-a/gw-1", "plant-a/gw-2", "plant-a/gw-3"}},
		{"no registry: at most max, least recently heard from dropped first", nil, 3, []put{
			{"a", "gw-1", putKept}, {"b", "gw-1", putKept}, {"c", "gw-1", putKept},
			{"a", "gw-1", putKept},    // heard again: now the most recent
			{"d", "gw-1", putEvicted}, // drops b
			{"e", "gw-1", putEvicted}, // drops c
		}, "", []string{"a/gw-1", "d/gw-1", "e/gw-1"}},
		{"an empty retained message removes a gateway", nil, 3, []put{
			{"a", "gw-1", putKept}, {"b", "gw-1", putKept}, {"c", "gw-1", putKept},
		}, "b/gw-1", []string{"a/gw-1", "c/gw-1"}},
		{"no max given: the default", nil, 0, nil, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &statusBook{registered: tc.registered, max: tc.max}
			at := time.Date(2026, 1, 15, 8, 0, 0, 0, time.UTC)
			for i, p := range tc.puts {
				if got := b.put(p.site, status(p.gw), at.Add(time.Duration(i)*time.Second)); got != p.want {
					t.Errorf("put %s/%s: %d, want %d", p.site, p.gw, got, p.want)
				}
			}
			if tc.remove != "" {
				site, gw, _ := strings.Cut(tc.remove, "/")
				b.remove(site, gw)
			}
			var got []string
			for _, s := range b.list("") {
				got = append(got, s.Site+"/"+s.Gateway)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("book %v, want %v", got, tc.want)
			}
		})
	}
	// Flooded with invented sites, the book stays at its bound.
	b := &statusBook{}
	for i := range 5 * config.DefaultMaxGateways {
		b.put(fmt.Sprintf("fake-%d", i), status("gw"), time.Unix(int64(i), 0))
	}
	if n := b.len(); n != config.DefaultMaxGateways {
		t.Errorf("%d statuses after a flood, want %d", n, config.DefaultMaxGateways)
	}
	// Options.Registered reaches the book.
	con, err := New(Options{Store: &tagStore{}, Registered: func(site, gw string) bool { return site == "plant-a" }})
	if err != nil {
		t.Fatal(err)
	}
	if con.status.put("invented", status("gw-1"), time.Now()) != putUnregistered || con.status.put("plant-a", status("gw-1"), time.Now()) != putKept {
		t.Error("Options.Registered is not applied to the status book")
	}
}

// TestOverviewQueries: the overview sends at most overviewQueries Flux
// queries at once however many sites there are, and a site known only
// from a (possibly invented) gateway status costs none.
func TestOverviewQueries(t *testing.T) {
	var sites []config.ConsoleSite
	for i := range 12 {
		sites = append(sites, config.ConsoleSite{ID: fmt.Sprintf("plant-%02d", i)})
	}
	o := newOffline(t, config.Console{Users: []config.ConsoleUser{quickUser(t, "regulator")}, Sites: sites}, &tagStore{boilers: []string{"boiler1"}})
	o.store.hold = 2 * time.Millisecond // long enough for queries to overlap
	c := o.login(t, "regulator")
	overview := func() (int, int64) {
		t.Helper()
		before := o.store.count()
		code, _, body := get(t, c, o.srv.URL+"/api/overview")
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
		var v struct{ Sites []overviewSite }
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		return len(v.Sites), o.store.count() - before
	}
	overview() // fills the tag cache
	n, q := overview()
	if n != 12 || q != 6 {
		t.Errorf("%d sites, %d queries; want 12 sites, 6 queries for them all (one time zone; their tags cached)", n, q)
	}
	if p := o.store.peakRunning(); p > overviewQueries || p < 2 {
		t.Errorf("at most %d queries ran at once, want 2..%d", p, overviewQueries)
	}
	for i := range 50 {
		o.con.status.put(fmt.Sprintf("invented-%02d", i), status("gw-1"), o.clock.now())
	}
	n, q2 := overview()
	if n != 62 || q2 != q {
		t.Errorf("with 50 invented sites: %d sites, %d queries; want 62 sites and still %d queries", n, q2, q)
	}
}
