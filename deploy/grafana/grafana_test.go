// Package grafana holds the Grafana provisioning files of BoilerWatch
// (datasource and dashboards); this test keeps them valid and in step
// with the data the collector writes.
package grafana

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/boilerwatch/boilerwatch/collector/console"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

const datasourceUID = "boilerwatch-influx"

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Query      string `json:"query"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

// query is one Flux query of a dashboard, named for error messages.
type query struct{ where, flux string }

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob("dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards (%v)", err)
	}
	out := map[string]dashboard{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		dec := json.NewDecoder(strings.NewReader(string(data)))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: not valid JSON: %v", f, err)
		}
		out[f] = d
	}
	return out
}

func queries(t *testing.T, dashboards map[string]dashboard) []query {
	t.Helper()
	var qs []query
	for f, d := range dashboards {
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			var s string
			if err := json.Unmarshal(v.Query, &s); err != nil {
				t.Errorf("%s: variable %s: query is not a string", f, v.Name)
			}
			qs = append(qs, query{fmt.Sprintf("%s variable %s", f, v.Name), s})
		}
		for _, p := range d.Panels {
			for i, tg := range p.Targets {
				qs = append(qs, query{fmt.Sprintf("%s panel %q target %d", f, p.Title, i), tg.Query})
			}
		}
	}
	return qs
}

func TestProvisioning(t *testing.T) {
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, URL, Access string
			IsDefault                    bool              `yaml:"isDefault"`
			Editable                     bool              `yaml:"editable"`
			JSONData                     map[string]any    `yaml:"jsonData"`
			SecureJSONData               map[string]string `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	decodeYAML(t, "provisioning/datasources/boilerwatch.yaml", &ds)
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 {
		t.Fatalf("datasources: %+v", ds)
	}
	d := ds.Datasources[0]
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"uid", d.UID, datasourceUID},
		{"type", d.Type, "influxdb"},
		{"access", d.Access, "proxy"},
		{"jsonData.version", d.JSONData["version"], "Flux"},
		{"jsonData.defaultBucket", d.JSONData["defaultBucket"], "boilerwatch/autogen"},
		{"secureJsonData.token", d.SecureJSONData["token"], "${BW_INFLUX_TOKEN}"},
	} {
		if c.got != c.want {
			t.Errorf("datasource %s = %v, want %v", c.what, c.got, c.want)
		}
	}
	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type, Folder string
			DisableDeletion    bool `yaml:"disableDeletion"`
			AllowUIUpdates     bool `yaml:"allowUiUpdates"`
			Options            struct {
				Path                      string `yaml:"path"`
				FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	decodeYAML(t, "provisioning/dashboards/boilerwatch.yaml", &prov)
	if prov.APIVersion != 1 || len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || prov.Providers[0].Options.Path == "" {
		t.Errorf("dashboard provider: %+v", prov)
	}
}

func decodeYAML(t *testing.T, path string, out any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

var (
	measRe  = regexp.MustCompile(`r\._measurement == "([^"]+)"`)
	fieldRe = regexp.MustCompile(`r\._field == "([^"]+)"`)
	tagRe   = regexp.MustCompile(`r\.([a-z][a-z_]*) ==`)
)

// TestDashboardsReferenceRealData checks every dashboard's structure, and
// that each query names only measurements, fields and tags the collector
// writes: the raw classes and points of the profile library, and the
// engine's derived measurements (console.DerivedFields, itself checked
// against the engine's writer).
func TestDashboardsReferenceRealData(t *testing.T) {
	lib, err := profile.LoadLibrary()
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string][]string{}
	raw := map[string]bool{}
	for _, p := range lib {
		raw[p.Class] = true
		for _, pt := range p.Points {
			fields[p.Class] = append(fields[p.Class], pt.Name)
		}
		fields[p.Class] = append(fields[p.Class], "_seq", "_bad")
	}
	for m, fs := range console.DerivedFields() {
		fields[m] = fs
	}
	tags := []string{"site", "gateway", "device", "profile", "boiler", "meter", "energy_type", "period", "kind", "field", "measurement"}

	dashboards := loadDashboards(t)
	uids := map[string]string{}
	for f, d := range dashboards {
		if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
			t.Errorf("%s: uid %q, title %q, %d panels", f, d.UID, d.Title, len(d.Panels))
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share uid %s", f, other, d.UID)
		}
		uids[d.UID] = f
		for _, p := range d.Panels {
			if p.Datasource.UID != datasourceUID || len(p.Targets) == 0 {
				t.Errorf("%s panel %q: datasource %q, %d targets", f, p.Title, p.Datasource.UID, len(p.Targets))
			}
			for _, tg := range p.Targets {
				if tg.Datasource.UID != datasourceUID || strings.TrimSpace(tg.Query) == "" {
					t.Errorf("%s panel %q: a target without the datasource or a query", f, p.Title)
				}
			}
		}
	}
	for _, q := range queries(t, dashboards) {
		var ms []string
		for _, m := range measRe.FindAllStringSubmatch(q.flux, -1) {
			if _, ok := fields[m[1]]; !ok {
				t.Errorf("%s: measurement %q is neither a device class of the profile library nor a derived measurement", q.where, m[1])
			}
			ms = append(ms, m[1])
		}
		// A query that names no measurement reads raw device data.
		within := ms
		if len(within) == 0 {
			within = slices.Sorted(maps.Keys(raw))
		}
		for _, f := range fieldRe.FindAllStringSubmatch(q.flux, -1) {
			ok := false
			for _, m := range within {
				ok = ok || slices.Contains(fields[m], f[1])
			}
			if !ok {
				t.Errorf("%s: field %q is not written to %v", q.where, f[1], within)
			}
		}
		for _, tg := range tagRe.FindAllStringSubmatch(q.flux, -1) {
			if !slices.Contains(tags, tg[1]) {
				t.Errorf("%s: tag %q does not exist", q.where, tg[1])
			}
		}
		if strings.Contains(q.flux, "from(bucket:") && !strings.Contains(q.flux, "v.defaultBucket") {
			t.Errorf("%s: a fixed bucket; use v.defaultBucket", q.where)
		}
	}
}

// TestDashboardQueriesRun runs every query on a real InfluxDB 1.8 with
// Grafana's variables filled in, so a query that InfluxDB's Flux cannot
// parse or plan fails here and not on a site.
func TestDashboardQueriesRun(t *testing.T) {
	in := servicetest.StartInflux(t)
	st := store.Open(store.Config{URL: in.URL, Bucket: in.Bucket})
	t.Cleanup(st.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := st.EnsureDatabase(ctx); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("${site}", "plant-a", "${boiler}", "boiler1", "${period}", "1h")
	prelude := fmt.Sprintf("v = {timeRangeStart: -24h, timeRangeStop: now(), windowPeriod: 1m, defaultBucket: %q}\n", in.Bucket)
	for _, q := range queries(t, loadDashboards(t)) {
		flux := vars.Replace(q.flux)
		// Imports must come first in a Flux script.
		var imports, body []string
		for _, line := range strings.Split(flux, "\n") {
			if strings.HasPrefix(line, "import ") {
				imports = append(imports, line)
			} else {
				body = append(body, line)
			}
		}
		script := strings.Join(imports, "\n") + "\n" + prelude + strings.Join(body, "\n")
		res, err := st.Query(ctx, script)
		if err == nil {
			for res.Next() {
			}
			err = res.Err()
			res.Close()
		}
		if err != nil {
			t.Errorf("%s: InfluxDB refuses the query: %v\n%s", q.where, err, script)
		}
	}
}
