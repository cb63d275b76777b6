package config

import (
	"strings"
	"testing"
	"time"
)

// TestSteamEstimateWithin: a steam meter's estimate_within defaults to 1h,
// may be set (0s: straight to the coefficient) and is refused beyond a day.
func TestSteamEstimateWithin(t *testing.T) {
	base := readmeEnergy(t)
	const ref = "        reference_c: 20       # counted from the feedwater temperature"
	if !strings.Contains(base, ref) {
		t.Fatalf("README example lost %q", ref)
	}
	steamMeter := func(c *Collector) *Meter {
		for i := range c.Energy.Meters {
			if c.Energy.Meters[i].Steam != nil {
				return &c.Energy.Meters[i]
			}
		}
		t.Fatal("no steam meter in the README example")
		return nil
	}
	c, err := Parse("README.md", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if got := steamMeter(c).Steam.EstimateWithin.Duration; got != time.Hour {
		t.Errorf("default estimate_within %s, want 1h", got)
	}
	for _, tc := range []struct {
		set  string
		want time.Duration
		err  string
	}{
		{"30m", 30 * time.Minute, ""},
		{"0s", 0, ""},
		{"48h", 0, "energy.meters[2].steam.estimate_within: 48h0m0s: a pressure older than a day is no estimate of this minute's; want at most 24h"},
		{"soon", 0, "energy.meters[2].steam.estimate_within: \"soon\" is not a duration"},
	} {
		doc := strings.Replace(base, ref, ref+"\n        estimate_within: "+tc.set, 1)
		c, err := Parse("README.md", []byte(doc))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.set, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.set, err)
			continue
		}
		if got := steamMeter(c).Steam.EstimateWithin.Duration; got != tc.want {
			t.Errorf("estimate_within %s: got %s", tc.set, got)
		}
	}
}
