// Package etcboilerwatch_test checks the sample /etc/boilerwatch layout: the
// YAML files load with the binaries' own parsers, and the systemd units
// start the binaries with flags they have and files that are shipped.
package etcboilerwatch_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	collectorconfig "github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
)

func TestSamplesLoad(t *testing.T) {
	tests := []struct {
		file string
		load func(string) error
	}{
		{"gateway.yaml", func(p string) error { _, err := fwconfig.LoadGateway(p); return err }},
		{"collector.yaml", func(p string) error {
			c, err := collectorconfig.Load(p)
			if err == nil && c.Metrics.Listen == "" {
				t.Errorf("collector.yaml: metrics.listen is empty; the sample should show it")
			}
			if err == nil && c.MQTT.Embedded != "" && !c.EmbeddedAuth() && !strings.HasPrefix(c.MQTT.Embedded, "127.") {
				t.Errorf("collector.yaml: the embedded broker listens on %s without logins", c.MQTT.Embedded)
			}
			return err
		}},
	}
	for _, tc := range tests {
		if err := tc.load(tc.file); err != nil {
			t.Errorf("%s: %v", tc.file, err)
		}
	}
}

func TestUnitsMatchBinaries(t *testing.T) {
	bins := servicetest.Build(t, "gateway/cmd/gateway", "collector/cmd/collector")
	exec1 := regexp.MustCompile(`(?m)^ExecStart=(\S+)(.*)$`)
	env := regexp.MustCompile(`(?m)^EnvironmentFile=-?/etc/boilerwatch/(\S+)$`)
	for _, name := range []string{"gateway", "collector"} {
		unit, err := os.ReadFile(filepath.Join("..", "systemd", "boilerwatch-"+name+".service"))
		if err != nil {
			t.Fatal(err)
		}
		m := exec1.FindSubmatch(unit)
		if m == nil {
			t.Fatalf("%s unit: no ExecStart", name)
		}
		if got, want := string(m[1]), "/usr/local/bin/boilerwatch-"+name; got != want {
			t.Errorf("%s unit runs %s, the README installs %s", name, got, want)
		}
		usage, _ := exec.Command(bins[name], "-h").CombinedOutput()
		args := strings.Fields(string(m[2]))
		for i, a := range args {
			if strings.HasPrefix(a, "-") && !strings.Contains(string(usage), "\n  "+strings.SplitN(a, "=", 2)[0]+" ") &&
				!strings.Contains(string(usage), "\n  "+strings.SplitN(a, "=", 2)[0]+"\n") {
				t.Errorf("%s unit passes %s, which %s -h does not list", name, a, name)
			}
			if strings.HasPrefix(a, "/etc/boilerwatch/") && i > 0 && args[i-1] == "-config" {
				if _, err := os.Stat(filepath.Base(a)); err != nil {
					t.Errorf("%s unit reads %s: no sample of it here", name, a)
				}
			}
		}
		if e := env.FindSubmatch(unit); e != nil {
			if _, err := os.Stat(string(e[1]) + ".example"); err != nil {
				t.Errorf("%s unit reads /etc/boilerwatch/%s: no %s.example here", name, e[1], e[1])
			}
		}
		if !strings.Contains(string(unit), "Type=notify") || !strings.Contains(string(unit), "WatchdogSec=") {
			t.Errorf("%s unit: want Type=notify and WatchdogSec (the binary notifies systemd)", name)
		}
	}
}
