package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// fleet names the gateways, sites and devices the load generator plays
// and the collector config it writes, so both agree.
type fleet struct {
	N, PerSite int
}

// Device profiles of every gateway: one boiler PLC and ten meters, half
// of each shipped three-phase meter model.
const (
	boilerProfile = "szl-chain-grate-plc"
	boilerDevice  = "boiler"
	metersPerGW   = 10
)

var meterProfiles = [2]string{"chint-dtsu666", "eastron-sdm630"}

func (f fleet) gateway(i int) string { return fmt.Sprintf("g%05d", i+1) }
func (f fleet) site(i int) string    { return fmt.Sprintf("s%04d", i/f.PerSite+1) }

// boiler is gateway i's boiler in the energy engine; its devices are
// named per gateway, so the names are unique within the site.
func (f fleet) boiler(i int) string { return "b" + f.gateway(i)[1:] }

func meterDevice(m int) string        { return fmt.Sprintf("m%02d", m+1) }
func meterProfile(m int) string       { return meterProfiles[m*len(meterProfiles)/metersPerGW] }
func (f fleet) meter(i, m int) string { return f.gateway(i) + "-" + meterDevice(m) }

// writeCollectorConfig writes head (the collector's own sections) and
// then the gateway registry and the energy engine for the fleet: every
// boiler with its points and fuel as the load's boilers burn (simulator
// model's default boiler), and every meter's imported energy.
func writeCollectorConfig(path, head string, f fleet, since time.Time, engine bool) error {
	var b strings.Builder
	if head != "" {
		h, err := os.ReadFile(head)
		if err != nil {
			return fmt.Errorf("-collector-head: %w", err)
		}
		b.Write(h)
		if len(h) > 0 && h[len(h)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	b.WriteString("gateways:\n")
	for i := range f.N {
		fmt.Fprintf(&b, "  - {site: %s, gateway: %s}\n", f.site(i), f.gateway(i))
	}
	// Grace 30 s: a meter's samples come every 15 s, so a minute is
	// complete half a minute after its end even with some ingest delay.
	if !engine {
		return os.WriteFile(path, []byte(b.String()), 0o644)
	}
	// Since: the engine starts where the load does, not 24 h before
	// (its default), which would have it grind through a day without data.
	fmt.Fprintf(&b, "energy:\n  timezone: Asia/Shanghai\n  grace: 30s\n  since: %s\n  boilers:\n", since.UTC().Format(time.RFC3339))
	for i := range f.N {
		gw := f.gateway(i)
		dev := func(point string) string {
			return fmt.Sprintf("{device: %s, point: %s}", deviceOf(gw, boilerDevice), point)
		}
		fmt.Fprintf(&b, `    - name: %s
      site: %s
      rated_steam: 10
      firing: layered
      fuel: bituminous_ii
      points: {steam_flow: %s, steam_pressure: %s, feedwater_temp: %s, coal_feed: %s, o2: %s, co: %s, exhaust_temp: %s}
      cold_air_c: 20
      steam_wetness: 3
      blowdown_rate: 2
      coal: {ash: 23, lhv: [{from: 2026-01-01, lhv: 20000}]}
      losses: {m: 0.4, n: 3.6, q3_coef: 3.2, carbon_heat: 32866, slag_heat: 560, slag_fraction: 0.8, fly_ash_fraction: 0.2, q5_rated: 1.7, carbon: [{from: 2026-01-01, slag: 15, fly_ash: 25}]}
`, f.boiler(i), f.site(i), dev("steam_flow"), dev("steam_pressure"), dev("feedwater_temp"), dev("coal_feed"), dev("o2"), dev("co"), dev("exhaust_temp"))
	}
	b.WriteString("  meters:\n")
	for i := range f.N {
		for m := range metersPerGW {
			fmt.Fprintf(&b, "    - {name: %s, site: %s, device: %s, point: ep_import, energy_type: electricity, unit: kWh, interval: 15s}\n",
				f.meter(i, m), f.site(i), deviceOf(f.gateway(i), meterDevice(m)))
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// deviceOf is the device name a gateway publishes: gateway-unique names
// keep the engine's device references unambiguous within a site, where
// several gateways each have a boiler and meters.
func deviceOf(gw, dev string) string { return gw + "-" + dev }

// writePasswords writes every gateway's login, identity:password, in the
// plain form mosquitto_passwd -U hashes in place.
func writePasswords(path, password string, f fleet) error {
	if password == "" {
		return fmt.Errorf("-passwd needs -password-env")
	}
	var b strings.Builder
	for i := range f.N {
		fmt.Fprintf(&b, "%s/%s:%s\n", f.site(i), f.gateway(i), password)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}
