package config

import (
	"testing"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
)

// TestTiersExamples parses docs/tiers.md's sections for an EMQX cluster
// and InfluxDB 2.x together, as one collector's config (the 2.x section
// is also run against InfluxDB 1.8 by collector/e2e TestInfluxV2Config).
func TestTiersExamples(t *testing.T) {
	blocks := servicetest.DocBlocks(t, "docs/tiers.md", "yaml")
	var doc string
	for _, first := range []string{
		"# mqtt section of collector.yaml for an EMQX cluster (collector 1 of 3)",
		"# influxdb section of collector.yaml for InfluxDB 2.x or Cloud (TSM)",
	} {
		b, ok := blocks[first]
		if !ok {
			t.Fatalf("docs/tiers.md has no example %q", first)
		}
		doc += b
	}
	c, err := Parse("docs/tiers.md", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ what, got, want string }{
		{"mqtt.broker", c.MQTT.Broker, "ssl://127.0.0.1:8883"},
		{"mqtt.share_group", c.MQTT.ShareGroup, "collectors"},
		{"mqtt.client_id", c.MQTT.ClientID, "bw-collector-1"},
		{"influxdb.org", c.InfluxDB.Org, "province-energy"},
		{"influxdb.bucket", c.InfluxDB.Bucket, "boilerwatch"},
		{"influxdb.token_env", c.InfluxDB.TokenEnv, "BW_INFLUX_TOKEN"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.what, tc.got, tc.want)
		}
	}
	if c.InfluxDB.CreateDatabase {
		t.Error("the 2.x example creates a database: a 1.8-only call")
	}
}
