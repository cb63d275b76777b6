package config

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
)

const exampleKey = "# collector.yaml, with the efficiency and energy engine"

func readmeEnergy(t *testing.T) string {
	t.Helper()
	y, ok := servicetest.DocBlocks(t, "README.md", "yaml")[exampleKey]
	if !ok {
		t.Fatalf("README has no %q example", exampleKey)
	}
	return y
}

// TestReadmeEnergyExample loads the README's boiler example, so the
// documented format stays the accepted one.
func TestReadmeEnergyExample(t *testing.T) {
	c, err := Parse("README.md", []byte(readmeEnergy(t)))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Energy
	if e == nil || len(e.Boilers) != 1 || len(e.Meters) != 3 {
		t.Fatalf("energy section: %+v", e)
	}
	b := e.Boilers[0]
	if e.Location.String() != "Asia/Shanghai" || e.Grace.Duration != 2*time.Minute || e.Alerts.BelowLimitFor.Duration != 2*time.Hour {
		t.Errorf("timing: tz %v grace %v below_limit_for %v", e.Location, e.Grace, e.Alerts.BelowLimitFor)
	}
	if b.Points.SteamFlow.Point != "steam_flow" || b.Coal.LHV[0].LHV != 20000 || *b.ColdAirC != 20 {
		t.Errorf("boiler: %+v", b)
	}
	wantFrom := time.Date(2026, 1, 1, 0, 0, 0, 0, e.Location)
	if !b.Coal.LHV[0].FromTime.Equal(wantFrom) || !b.Losses.Carbon[0].FromTime.Equal(wantFrom) {
		t.Errorf("dates are local midnight: lhv from %v, carbon from %v", b.Coal.LHV[0].FromTime, b.Losses.Carbon[0].FromTime)
	}
	if m := e.Meters[1]; m.Interval.Duration != 5*time.Second || m.MaxGap.Duration != 5*time.Minute {
		t.Errorf("meter %s: interval %v max_gap %v", m.Name, m.Interval, m.MaxGap)
	}
}

// TestSinceAhead: since may be up to a day ahead (the engine waits for
// it), not more.
func TestSinceAhead(t *testing.T) {
	defer func(c func() time.Time) { sinceClock = c }(sinceClock)
	sinceClock = func() time.Time { return time.Date(2026, 1, 15, 2, 0, 0, 0, time.UTC) }
	tests := []struct {
		since string
		ok    bool
	}{
		{"2025-06-01", true},
		{"2026-01-15", true},
		{"2026-01-16", true}, // tomorrow's local midnight, 14 h ahead
		{"2026-01-16T10:00:00+08:00", true},
		{"2026-01-16T10:00:01+08:00", false},
		{"2062-01-15", false},
	}
	base := readmeEnergy(t)
	for _, tc := range tests {
		t.Run(tc.since, func(t *testing.T) {
			doc := strings.Replace(base, "timezone: Asia/Shanghai", "timezone: Asia/Shanghai\n  since: "+tc.since, 1)
			c, err := Parse("README.md", []byte(doc))
			if (err == nil) != tc.ok {
				t.Fatalf("since %s: error %v, want ok %v", tc.since, err, tc.ok)
			}
			if err == nil && c.Energy.SinceTime.IsZero() {
				t.Errorf("since %s not resolved", tc.since)
			}
		})
	}
}

// TestEnergyErrors checks that each mistake is reported at its line with
// the field's path.
func TestEnergyErrors(t *testing.T) {
	base := readmeEnergy(t)
	const coldAir = "      cold_air_c: 20          # or points.cold_air_temp"
	const exh = "        exhaust_temp:   {device: boiler1, point: exhaust_temp}    # °C"
	const exhCold = exh + "\n" + coldAir
	// The wall clock since is checked against: 2026-01-15 10:00 Shanghai.
	defer func(c func() time.Time) { sinceClock = c }(sinceClock)
	sinceClock = func() time.Time { return time.Date(2026, 1, 15, 2, 0, 0, 0, time.UTC) }
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown field", "      rated_steam: 10         # t/h", "      rated_steam: 10\n      rated_stem: 10", "README.md:25: energy.boilers[0].rated_stem: unknown field \"rated_stem\""},
		{"timezone", "timezone: Asia/Shanghai", "timezone: Asia/Shanghia", "README.md:9: energy.timezone: \"Asia/Shanghia\" is not a time zone"},
		{"fuel", "fuel: bituminous_ii", "fuel: peat", "README.md:27: energy.boilers[0].fuel: firing/fuel: GB 24500-2020 has no row for firing \"layered\" with fuel \"peat\""},
		{"grace", "grace: 2m ", "grace: soon ", "README.md:11: energy.grace: \"soon\" is not a duration"},
		{"ash split", "fly_ash_fraction: 0.2", "fly_ash_fraction: 0.3", "README.md:42: energy.boilers[0].losses: losses: slag_fraction + fly_ash_fraction + siftings_fraction = 1.1, must be 1"},
		{"lhv date", "{from: 2026-01-01, lhv: 20000}", "{from: 2026-13-01, lhv: 20000}", "README.md:41: energy.boilers[0].coal.lhv[0].from: \"2026-13-01\": want a date"},
		{"meter unit", "energy_type: electricity, unit: kWh", "energy_type: electricity, unit: kW", "README.md:56: energy.meters[1].unit: \"kW\": a electricity counter is in one of [MWh kWh]"},
		{"meter modulus", "energy_type: electricity, unit: kWh, interval: 5s}", "energy_type: electricity, unit: kWh, interval: 5s, modulus: -100000}",
			"README.md:56: energy.meters[1].modulus: -100000: want the value at which the counter rolls over to 0, in kWh, > 0"},
		{"meter max_rate", "energy_type: electricity, unit: kWh, interval: 5s}", "energy_type: electricity, unit: kWh, interval: 5s, max_rate: 0}",
			"README.md:56: energy.meters[1].max_rate: 0: want the most the meter can count per hour, in kWh, > 0"},
		{"unit consumption", "product: steam-b1", "product: steam-b2", "energy.boilers[0].unit_consumption: meter \"steam-b2\" is not in meters"},
		{"q5", "q5_rated: 1.7", "q5_rated: -1", "README.md:50: energy.boilers[0].losses.q5_rated: want > 0 %"},
		{"whole hours", "below_limit_for: 2h", "below_limit_for: 90m", "energy.alerts.below_limit_for: 1h30m0s: want whole hours"},
		// Steam wetness, blowdown, fuel class, rated load (issue 13).
		{"fuel class by LHV", "{from: 2026-01-01, lhv: 20000}", "{from: 2026-01-01, lhv: 22000}",
			"README.md:41: energy.boilers[0].coal.lhv[0].lhv: 22,000 kJ/kg is outside bituminous_ii (17,700 ≤ Q ≤ 21,000 kJ/kg, GB 24500-2020 [S]): by its LHV it is bituminous_iii (Q > 21,000 kJ/kg): set fuel accordingly"},
		{"wetness range", coldAir, coldAir + "\n      steam_wetness: 25",
			"README.md:38: energy.boilers[0].steam_wetness: 25: want ω in [0, 20) %"},
		{"wetness twice", exhCold, exh + "\n        steam_wetness:  {device: boiler1, point: wetness}\n" + coldAir + "\n      steam_wetness: 3",
			"energy.boilers[0]: steam_wetness and points.steam_wetness both set: configure one"},
		{"wetness superheated", "output: saturated_steam", "output: superheated_steam\n      steam_wetness: 3",
			"energy.boilers[0]: steam_wetness: only for saturated_steam output"},
		{"blowdown range", coldAir, coldAir + "\n      blowdown_rate: -2",
			"README.md:38: energy.boilers[0].blowdown_rate: -2: want the blowdown in % of the steam flow, [0, 50)"},
		{"blowdown twice", exhCold, exh + "\n        blowdown_flow:  {device: boiler1, point: blowdown}\n" + coldAir + "\n      blowdown_rate: 3",
			"energy.boilers[0]: blowdown_rate and points.blowdown_flow both set: configure one"},
		{"rated load share", coldAir, coldAir + "\n      rated_load_share: 70",
			"README.md:38: energy.boilers[0].rated_load_share: 70: want a share of rated_steam in (0, 1]"},
		{"rated load share default", "timezone: Asia/Shanghai", "timezone: Asia/Shanghai\n  rated_load_share: -0.7",
			"README.md:10: energy.rated_load_share: -0.7: want a share of rated output in (0, 1]"},
		{"below limit basis", "below_limit_for: 2h", "below_limit_for: 2h\n    below_limit_basis: daily",
			"README.md:17: energy.alerts.below_limit_basis: \"daily\": want rated_load or all_hours"},
		{"since a year ahead", "timezone: Asia/Shanghai", "timezone: Asia/Shanghai\n  since: 2027-01-15",
			"README.md:10: energy.since: \"2027-01-15\" is 365 days in the future; the engine would compute nothing until then (at most 24 h ahead)"},
		{"since two days ahead", "timezone: Asia/Shanghai", "timezone: Asia/Shanghai\n  since: 2026-01-17T10:00:00+08:00",
			"README.md:10: energy.since: \"2026-01-17T10:00:00+08:00\" is 48 h in the future"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.old) {
				t.Fatalf("example lacks %q", tc.old)
			}
			_, err := Parse("README.md", []byte(strings.Replace(base, tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
		})
	}
}

// TestMeterProfiles: a meter that names its device's profile takes the
// counter's modulus from the profile's point, in the meter's unit, unless
// it writes its own; a profile or point that cannot be a meter's counter
// is refused at the meter's profile field.
func TestMeterProfiles(t *testing.T) {
	profDir := t.TempDir()
	profYAML := []byte(`name: meter-5digit
class: electricity_meter
source: test
points:
  - {name: ep_import, register: holding, address: 0, type: uint32, scale: 0.1, unit: kWh, counter: true, modulus: 100000}
  - {name: ep_plain, register: holding, address: 2, type: float32, unit: kWh, counter: true}
  - {name: power, register: holding, address: 4, type: float32, unit: kW}
  - {name: ep_odd, register: holding, address: 6, type: uint32, unit: Wh, counter: true, modulus: 100000}
`)
	if err := os.WriteFile(filepath.Join(profDir, "m.yaml"), profYAML, 0o644); err != nil {
		t.Fatal(err)
	}
	const meter = "- {name: power-b1, site: plant-a, device: meter1, point: ep_import, energy_type: electricity, unit: kWh, interval: 5s}"
	tests := []struct {
		name, meter string
		modulus     float64
		err         string
	}{
		{"no profile: no modulus", meter, 0, ""},
		{"modulus from the profile", "- {name: power-b1, site: plant-a, device: meter1, point: ep_import, energy_type: electricity, unit: kWh, interval: 5s, profile: meter-5digit}", 100000, ""},
		{"converted to the meter's unit", "- {name: power-b1, site: plant-a, device: meter1, point: ep_import, energy_type: electricity, unit: MWh, interval: 5s, profile: meter-5digit}", 100, ""},
		{"the meter's own wins", "- {name: power-b1, site: plant-a, device: meter1, point: ep_import, energy_type: electricity, unit: kWh, interval: 5s, profile: meter-5digit, modulus: 99999.9, max_rate: 800}", 99999.9, ""},
		{"profile without modulus", "- {name: power-b1, site: plant-a, device: meter1, point: ep_plain, energy_type: electricity, unit: kWh, interval: 5s, profile: meter-5digit}", 0, ""},
		{"unknown profile", "- {name: power-b1, site: plant-a, device: meter1, point: ep_import, energy_type: electricity, unit: kWh, interval: 5s, profile: nope}", 0,
			`README.md:56: energy.meters[1].profile: "nope" is not a profile of the library`},
		{"point not in profile", "- {name: power-b1, site: plant-a, device: meter1, point: ep_export, energy_type: electricity, unit: kWh, interval: 5s, profile: meter-5digit}", 0,
			`energy.meters[1].profile: profile meter-5digit has no point "ep_export"`},
		{"point not a counter", "- {name: power-b1, site: plant-a, device: meter1, point: power, energy_type: electricity, unit: kWh, interval: 5s, profile: meter-5digit}", 0,
			"energy.meters[1].profile: point power of profile meter-5digit is not a counter"},
		{"unit not convertible", "- {name: power-b1, site: plant-a, device: meter1, point: ep_odd, energy_type: electricity, unit: kWh, interval: 5s, profile: meter-5digit}", 0,
			`energy.meters[1].profile: point ep_odd of profile meter-5digit counts in "Wh"`},
	}
	base := readmeEnergy(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The collector knows the meter's profile from ingest.profile_dirs.
			doc := strings.Replace(base, meter, tc.meter, 1) + "ingest: {profile_dirs: [" + profDir + "]}\n"
			if !strings.Contains(base, meter) {
				t.Fatalf("example lacks %q", meter)
			}
			c, err := Parse("README.md", []byte(doc))
			if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if err != nil {
				return
			}
			if got := c.Energy.Meters[1].Modulus; math.Abs(got-tc.modulus) > 1e-9 {
				t.Errorf("modulus %v, want %v", got, tc.modulus)
			}
		})
	}
}

// TestEnergyDefaults: the full q3 formula, dry steam without blowdown, a
// rated-load share of 70 % and below-limit alerts on rated-load hours,
// unless the config says otherwise.
func TestEnergyDefaults(t *testing.T) {
	base := readmeEnergy(t)
	c, err := Parse("README.md", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Energy
	b := e.Boilers[0]
	if !b.Losses.Q3Full() || b.SteamWetness != nil || b.BlowdownRate != nil || b.RatedLoadShare != 0.7 || e.Alerts.BelowLimitBasis != "rated_load" {
		t.Errorf("defaults: q3 full %v, wetness %v, blowdown %v, rated share %g, basis %q",
			b.Losses.Q3Full(), b.SteamWetness, b.BlowdownRate, b.RatedLoadShare, e.Alerts.BelowLimitBasis)
	}
	doc := strings.NewReplacer("q3_coef: 3.2", "q3_coef: 3.2\n        q3_correct_for_q4: false",
		"      cold_air_c: 20          # or points.cold_air_temp", "      cold_air_c: 20\n      steam_wetness: 3\n      blowdown_rate: 2.5\n      rated_load_share: 0.8",
		"below_limit_for: 2h", "below_limit_for: 2h\n    below_limit_basis: all_hours").Replace(base)
	if c, err = Parse("README.md", []byte(doc)); err != nil {
		t.Fatal(err)
	}
	b = c.Energy.Boilers[0]
	if b.Losses.Q3Full() || *b.SteamWetness != 3 || *b.BlowdownRate != 2.5 || b.RatedLoadShare != 0.8 || c.Energy.Alerts.BelowLimitBasis != "all_hours" {
		t.Errorf("set: q3 full %v, wetness %v, blowdown %v, rated share %g, basis %q",
			b.Losses.Q3Full(), *b.SteamWetness, *b.BlowdownRate, b.RatedLoadShare, c.Energy.Alerts.BelowLimitBasis)
	}
}

// TestCluster: the example of docs/collectors.md, the defaults and the
// refusals of energy.cluster.
func TestCluster(t *testing.T) {
	const key = "# collector.yaml of each collector of the group (client_id differs)"
	doc, ok := servicetest.DocBlocks(t, "docs/collectors.md", "yaml")[key]
	if !ok {
		t.Fatalf("docs/collectors.md: no yaml block %q", key)
	}
	c, err := Parse("collectors.md", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if cl := c.Energy.Cluster; cl == nil || cl.ID != "bw-collector-1" || cl.Keepalive.Duration != 10*time.Second || cl.Handover.Duration != 20*time.Second {
		t.Errorf("docs/collectors.md example: cluster %+v", cl)
	}
	const head = "mqtt: {broker: \"tcp://127.0.0.1:1\", client_id: bw-c7}\ninfluxdb: {url: \"http://127.0.0.1:1\", bucket: b}\nenergy:\n  timezone: Asia/Shanghai\n"
	for _, tc := range []struct {
		name, energy string
		want         Cluster // ID, keepalive and handover
		err          string
	}{
		{"none", "", Cluster{}, ""},
		{"defaults", "  cluster: {}\n", Cluster{ID: "bw-c7", Keepalive: conf.Duration{Duration: 10 * time.Second}, Handover: conf.Duration{Duration: 20 * time.Second}}, ""},
		{"short every", "  every: 1s\n  cluster: {id: c-2, keepalive: 2s}\n", Cluster{ID: "c-2", Keepalive: conf.Duration{Duration: 2 * time.Second}, Handover: conf.Duration{Duration: 5 * time.Second}}, ""},
		{"gateway level", "  cluster: {id: status}\n", Cluster{}, `energy.cluster.id: "status"`},
		{"bad name", "  cluster: {id: \"a/b\"}\n", Cluster{}, `energy.cluster.id: "a/b"`},
		{"handover below every", "  every: 10s\n  cluster: {handover: 5s}\n", Cluster{}, "energy.cluster.handover: 5s: want at least energy.every (10s)"},
		{"keepalive", "  cluster: {keepalive: 100ms}\n", Cluster{}, "energy.cluster.keepalive: 100ms: want at least 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte(head+tc.energy))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := Cluster{}
			if c.Energy.Cluster != nil {
				got = *c.Energy.Cluster
			}
			if got.ID != tc.want.ID || got.Keepalive.Duration != tc.want.Keepalive.Duration || got.Handover.Duration != tc.want.Handover.Duration {
				t.Errorf("cluster %+v, want %+v", got, tc.want)
			}
		})
	}
}
