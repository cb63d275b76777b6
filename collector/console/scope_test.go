package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// scopedRoutes are every route that names a site: views, their CSV
// frames (alerts are the boiler's events frame), the report and the
// site's status (the overview of one site).
var scopedRoutes = []string{
	"/api/boiler?site=%s&boiler=boiler1",
	"/api/boiler?site=%s&boiler=boiler1&range=7d&format=csv&frame=output",
	"/api/boiler?site=%s&boiler=boiler1&range=7d&format=csv&frame=events",
	"/api/energy?site=%s",
	"/api/energy?site=%s&format=csv&frame=totals",
	"/api/quality?site=%s",
	"/api/quality?site=%s&format=csv&frame=gaps",
	"/api/overview?site=%s",
	"/report?site=%s",
	"/report?site=%s&month=2026-01&lang=en",
}

// TestScopeNothingQueried: a user limited to plant-a who asks for
// plant-b, or for a site that does not exist, gets the same 404, and the
// console sends no query at all; the same requests from a user without a
// scope reach the store.
func TestScopeNothingQueried(t *testing.T) {
	cfg := config.Console{
		Users: []config.ConsoleUser{quickUser(t, "regulator"), quickUser(t, "plant-a-engineer", "plant-a")},
		Sites: []config.ConsoleSite{{ID: "plant-a"}, {ID: "plant-b"}},
	}
	o := newOffline(t, cfg, &tagStore{sites: []string{"plant-a", "plant-b"}, boilers: []string{"boiler1"}})
	all, scoped := o.login(t, "regulator"), o.login(t, "plant-a-engineer")
	for _, route := range scopedRoutes {
		for _, tc := range []struct {
			user    string
			c       *http.Client
			site    string
			refused bool
		}{
			{"plant-a-engineer", scoped, "plant-b", true},
			{"plant-a-engineer", scoped, "plant-z", true}, // does not exist: the same answer
			{"plant-a-engineer", scoped, "plant-a", false},
			{"regulator", all, "plant-b", false},
		} {
			path := fmt.Sprintf(route, tc.site)
			t.Run(tc.user+" "+path, func(t *testing.T) {
				before := o.store.count()
				code, _, body := get(t, tc.c, o.srv.URL+path)
				queries := o.store.count() - before
				if !tc.refused {
					if code == http.StatusNotFound || queries == 0 {
						t.Errorf("%d after %d queries, want an answer from the store: %s", code, queries, body)
					}
					return
				}
				var e struct{ Error string }
				json.Unmarshal(body, &e)
				if code != http.StatusNotFound || e.Error != fmt.Sprintf("site %q not found", tc.site) {
					t.Errorf("%d %s, want 404 site %q not found", code, body, tc.site)
				}
				if queries != 0 {
					t.Errorf("%d queries for a refused request", queries)
				}
			})
		}
	}
}

// TestScopeLists: the lists show a scoped user only the user's sites,
// including the gateways' status.
func TestScopeLists(t *testing.T) {
	cfg := config.Console{
		Users: []config.ConsoleUser{quickUser(t, "regulator"), quickUser(t, "plant-a-engineer", "plant-a")},
		Sites: []config.ConsoleSite{{ID: "plant-a"}, {ID: "plant-b"}},
	}
	o := newOffline(t, cfg, &tagStore{sites: []string{"plant-a", "plant-b", "plant-c"}, boilers: []string{"boiler1"}})
	for _, site := range []string{"plant-a", "plant-b", "plant-d"} {
		o.con.status.put(site, telemetry.Status{V: telemetry.Version, Gateway: "gw-1", State: "online"}, o.clock.now())
	}
	all, scoped := o.login(t, "regulator"), o.login(t, "plant-a-engineer")
	siteIDs := func(c *http.Client, path string) []string {
		t.Helper()
		code, _, body := get(t, c, o.srv.URL+path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		var v struct {
			Sites []struct {
				ID       string
				Boilers  []struct{ Site string }
				Gateways []struct{ ID string }
			}
		}
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range v.Sites {
			ids = append(ids, s.ID)
			for _, b := range s.Boilers {
				if b.Site != s.ID {
					t.Errorf("%s: site %s lists a boiler of %s", path, s.ID, b.Site)
				}
			}
		}
		return ids
	}
	for _, tc := range []struct {
		user string
		c    *http.Client
		path string
		want []string
	}{
		{"regulator", all, "/api/sites", []string{"plant-a", "plant-b", "plant-c", "plant-d"}},
		{"regulator", all, "/api/overview", []string{"plant-a", "plant-b", "plant-c", "plant-d"}},
		{"plant-a-engineer", scoped, "/api/sites", []string{"plant-a"}},
		{"plant-a-engineer", scoped, "/api/overview", []string{"plant-a"}},
		{"plant-a-engineer", scoped, "/api/overview?site=plant-a", []string{"plant-a"}},
	} {
		t.Run(tc.user+" "+tc.path, func(t *testing.T) {
			if got := siteIDs(tc.c, tc.path); !slices.Equal(got, tc.want) {
				t.Errorf("sites %v, want %v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		c    *http.Client
		want string
	}{
		{scoped, `"sites":["plant-a"]`},
		{all, ""},
	} {
		_, _, body := get(t, tc.c, o.srv.URL+"/api/me")
		if got := strings.Contains(string(body), `"sites"`); got != (tc.want != "") || !strings.Contains(string(body), tc.want) {
			t.Errorf("/api/me %s, want sites %q", body, tc.want)
		}
	}
}

// TestSitesWithoutBoilers: a site without boilers (configured, no data:
// e.g. a scoped user's new site) lists an empty array, never null, which
// the UI cannot map over.
func TestSitesWithoutBoilers(t *testing.T) {
	o := newOffline(t, config.Console{Users: []config.ConsoleUser{quickUser(t, "new-plant", "plant-new")}, Sites: []config.ConsoleSite{{ID: "plant-new"}}}, &tagStore{})
	code, _, body := get(t, o.login(t, "new-plant"), o.srv.URL+"/api/sites")
	if code != http.StatusOK || !strings.Contains(string(body), `"boilers":[]`) {
		t.Errorf("%d %s, want plant-new with \"boilers\":[]", code, body)
	}
}
