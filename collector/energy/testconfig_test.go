package energy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/config"
)

// boilerYAML is one 10 t/h chain grate with the reference's worked-example
// coefficients; %s is the boiler name, repeated for its device.
const boilerYAML = `
    - name: %[1]s
      site: plant-t
      rated_steam: 10
      firing: layered
      fuel: bituminous_ii
      points:
        steam_flow:     {device: %[1]s, point: steam_flow}
        steam_pressure: {device: %[1]s, point: steam_pressure}
        feedwater_temp: {device: %[1]s, point: feedwater_temp}
        coal_feed:      {device: %[1]s, point: coal_feed}
        o2:             {device: %[1]s, point: o2}
        co:             {device: %[1]s, point: co}
        exhaust_temp:   {device: %[1]s, point: exhaust_temp}
      cold_air_c: 20
      coal: {ash: 23, lhv: [{from: 2026-01-01, lhv: 20000}]}
      losses:
        {m: 0.4, n: 3.6, q3_coef: 3.2, carbon_heat: 32866, slag_heat: 560, slag_fraction: 0.8, fly_ash_fraction: 0.2,
         q5_rated: 1.7, carbon: [{from: 2026-01-01, slag: 15, fly_ash: 25}]}
`

// testConfig parses an energy config with the given boilers and meters
// sections (YAML list items), as the collector would.
func testConfig(t testing.TB, alerts, boilers, meters string) *config.Energy {
	t.Helper()
	doc := "mqtt: {broker: \"tcp://127.0.0.1:1\"}\ninfluxdb: {url: \"http://127.0.0.1:1\", bucket: b}\nenergy:\n  timezone: Asia/Shanghai\n" +
		"  electricity_primary: [{from: 2026-01-01, kgce_per_kwh: 0.3}]\n" + alerts +
		"  boilers:" + boilers + "\n  meters:" + meters + "\n"
	if strings.TrimSpace(meters) == "" {
		doc = strings.Replace(doc, "  meters:", "  meters: []", 1)
	}
	c, err := config.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return c.Energy
}

func oneBoiler(t testing.TB, name string) *config.Energy {
	return testConfig(t, "", fmt.Sprintf(boilerYAML, name), "")
}

var shanghai = mustLoc("Asia/Shanghai")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}
