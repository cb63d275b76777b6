package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
)

func TestReadmeExample(t *testing.T) {
	y, ok := servicetest.DocBlocks(t, "README.md", "yaml")["# collector.yaml"]
	if !ok {
		t.Fatal("README has no '# collector.yaml' example")
	}
	c, err := Parse("README.md#collector.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.Broker != "tcp://127.0.0.1:1883" || c.Batch.Flush.Duration != 200*time.Millisecond || c.InfluxDB.Bucket != "boilerwatch/autogen" {
		t.Errorf("parsed %+v", c)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"embedded default broker", "mqtt: {embedded: \"127.0.0.1:1883\"}\ninfluxdb: {url: \"http://x:8086\", bucket: db/rp}\n", ""},
		{"no broker", "influxdb: {url: \"http://x:8086\", bucket: db/rp}\n", "c.yaml:1: mqtt.broker: missing"},
		{"bad url", "mqtt: {broker: \"tcp://b:1\"}\ninfluxdb:\n  url: x:8086\n  bucket: db/rp\n", "c.yaml:3: influxdb.url: \"x:8086\": want http:// or https://"},
		{"bad flush", "mqtt: {broker: \"tcp://b:1\"}\ninfluxdb: {url: \"http://x\", bucket: b}\nbatch:\n  flush: soon\n", "c.yaml:4: batch.flush: \"soon\" is not a duration (write e.g. 1s, 500ms, 1m)"},
		{"unknown field", "mqtt: {broker: \"tcp://b:1\"}\ninfluxdb: {url: \"http://x\", bucket: b, token: secret}\n", "c.yaml:2: influxdb.token: unknown field \"token\" (check its spelling and indentation; known: bucket, create_database, org, token_env, url)"},
		{"ingest", "mqtt: {broker: \"tcp://b:1\"}\ninfluxdb: {url: \"http://x\", bucket: b}\ningest:\n  data_dir: data\n  max_future: 2m\n  classes: [flare_stack]\n  dead_letters_max: 1GB\n", ""},
		{"reserved class", "mqtt: {broker: \"tcp://b:1\"}\ninfluxdb: {url: \"http://x\", bucket: b}\ningest:\n  classes: [flare_stack, energy]\n", "c.yaml:4: ingest.classes[1]: \"energy\" is a measurement the collector writes itself"},
		{"invalid class", "mqtt: {broker: \"tcp://b:1\"}\ninfluxdb: {url: \"http://x\", bucket: b}\ningest:\n  classes: [\"a b\"]\n", "c.yaml:4: ingest.classes[0]: \"a b\" is not a valid class name"},
		{"twice", "mqtt: {broker: \"tcp://b:1\"}\ninfluxdb: {url: \"http://x\", bucket: b}\ningest:\n  classes: [x, x]\n", "c.yaml:4: ingest.classes[1]: duplicate class name \"x\" (also ingest.classes[0])"},
		{"bad max_future", "mqtt: {broker: \"tcp://b:1\"}\ninfluxdb: {url: \"http://x\", bucket: b}\ningest:\n  max_future: later\n", "c.yaml:4: ingest.max_future: \"later\" is not a duration"},
		{"small dead_letters_max", "mqtt: {broker: \"tcp://b:1\"}\ninfluxdb: {url: \"http://x\", bucket: b}\ningest:\n  dead_letters_max: 10kB\n", "c.yaml:4: ingest.dead_letters_max: 10kB is below the minimum 1MB"},
		{"missing profile dir", "mqtt: {broker: \"tcp://b:1\"}\ninfluxdb: {url: \"http://x\", bucket: b}\ningest:\n  profile_dirs: [/nonexistent/profiles]\n", "c.yaml:4: ingest.profile_dirs[0]: /nonexistent/profiles is not a folder of profiles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tt.yaml))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Fatalf("error %v, want prefix %q", err, tt.want)
			}
		})
	}
}

// A generic profile in profile_dirs may not name a measurement the
// collector writes itself; any other measurement is accepted.
func TestGenericMeasurementReserved(t *testing.T) {
	dir := t.TempDir()
	gen := func(m string) string {
		return "name: g\nclass: generic\nmeasurement: " + m + "\nsource: test\npoints:\n  - {name: a, register: holding, address: 0, type: uint16}\n"
	}
	doc := "mqtt: {broker: \"tcp://b:1\"}\ninfluxdb: {url: \"http://x\", bucket: b}\ningest: {profile_dirs: [" + dir + "]}\n"
	for _, tc := range []struct{ measurement, want string }{
		{"chiller", ""},
		{"energy", "c.yaml:3: ingest.profile_dirs: profile g (" + dir + "/g.yaml): measurement \"energy\" is one the collector writes itself"},
	} {
		if err := os.WriteFile(filepath.Join(dir, "g.yaml"), []byte(gen(tc.measurement)), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Parse("c.yaml", []byte(doc))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.measurement, err)
		case tc.want == "" && c.Ingest.Library["g"].MeasurementName() != tc.measurement:
			t.Errorf("%s: library %v", tc.measurement, c.Ingest.Library["g"])
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want prefix %q", tc.measurement, err, tc.want)
		}
	}
}
