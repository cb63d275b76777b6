package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/boilerwatch/boilerwatch/collector/config"
)

// TestOverviewPaging: 12 sites of 10 configured boilers and 10 gateways
// each, plus a boiler found only in the data at every site: the overview
// shows a page of boilers and of gateways that match the search, and
// queries only the sites on that page.
func TestOverviewPaging(t *testing.T) {
	var sites []config.ConsoleSite
	energy := &config.Energy{}
	o := newOffline(t, config.Console{Users: []config.ConsoleUser{quickUser(t, "regulator")}}, &tagStore{boilers: []string{"boiler1"}})
	for i := range 12 {
		site := fmt.Sprintf("plant-%02d", i)
		sites = append(sites, config.ConsoleSite{ID: site})
		for j := range 10 {
			energy.Boilers = append(energy.Boilers, config.Boiler{Site: site, Name: fmt.Sprintf("b%02d%02d", i, j)})
			o.con.status.put(site, status(fmt.Sprintf("gw-%02d", j)), o.clock.now())
		}
	}
	o.con.opts.Config.Sites = sites
	o.con.opts.Energy = energy
	c := o.login(t, "regulator")
	type page struct {
		Sites         []overviewSite
		Pages         int
		TotalBoilers  int `json:"total_boilers"`
		TotalGateways int `json:"total_gateways"`
	}
	for _, tc := range []struct {
		query                 string
		code                  int
		pages, totalB, totalG int
		boilers, gateways     int
		sites                 []string
	}{
		{"", 200, 3, 120, 120, 50 + 5, 50, []string{"plant-00", "plant-01", "plant-02", "plant-03", "plant-04"}},
		{"?page=3", 200, 3, 120, 120, 20 + 2, 20, []string{"plant-10", "plant-11"}},
		{"?page=4", 200, 3, 120, 120, 0, 0, nil},
		{"?per_page=500", 200, 1, 120, 120, 120 + 12, 120, nil},
		{"?q=PLANT-03", 200, 1, 10, 10, 10 + 1, 10, []string{"plant-03"}},
		{"?q=b0705", 200, 1, 1, 0, 1, 0, []string{"plant-07"}},
		{"?q=boiler1", 200, 1, 0, 0, 0, 0, nil},
		{"?site=plant-05&per_page=4&page=2", 200, 3, 10, 10, 4 + 1, 4, []string{"plant-05"}},
		{"?page=0", 400, 0, 0, 0, 0, 0, nil},
		{"?per_page=501", 400, 0, 0, 0, 0, 0, nil},
		{"?q=%00", 400, 0, 0, 0, 0, 0, nil},
	} {
		t.Run(tc.query, func(t *testing.T) {
			get(t, c, o.srv.URL+"/api/overview"+tc.query) // fills the tag cache
			before := o.store.count()
			code, _, body := get(t, c, o.srv.URL+"/api/overview"+tc.query)
			if code != tc.code {
				t.Fatalf("%d %s, want %d", code, body, tc.code)
			}
			if code != http.StatusOK {
				return
			}
			queries := o.store.count() - before
			var v page
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatal(err)
			}
			var ids []string
			var boilers, gateways int
			for _, s := range v.Sites {
				ids = append(ids, s.ID)
				boilers += len(s.Boilers)
				gateways += len(s.Gateways)
			}
			if v.Pages != tc.pages || v.TotalBoilers != tc.totalB || v.TotalGateways != tc.totalG || boilers != tc.boilers || gateways != tc.gateways {
				t.Errorf("pages %d, totals %d boilers %d gateways, shown %d boilers %d gateways; want %d, %d, %d, %d, %d",
					v.Pages, v.TotalBoilers, v.TotalGateways, boilers, gateways, tc.pages, tc.totalB, tc.totalG, tc.boilers, tc.gateways)
			}
			if tc.sites != nil && !slices.Equal(ids, tc.sites) {
				t.Errorf("sites %v, want %v", ids, tc.sites)
			}
			// The page's sites share a time zone: six queries for them all,
			// none for a page without sites.
			if want := min(6, 6*len(v.Sites)); queries != int64(want) {
				t.Errorf("%d queries for %d sites, want %d (only the page's sites, together)", queries, len(v.Sites), want)
			}
		})
	}
}
