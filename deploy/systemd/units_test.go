// Package systemd_test checks the shipped systemd units: systemd accepts
// them, and under their sandbox (ProtectSystem=strict: everything read-only
// but what the unit lists) every path the binaries write is writable.
package systemd_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	collectorconfig "github.com/boilerwatch/boilerwatch/collector/config"
	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/remote"
)

// service is the [Service] section of a unit: each key's values, in order.
type service map[string][]string

func readUnit(t *testing.T, name string) service {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := service{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = line
		case section == "[Service]":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: %q is not key=value", name, line)
			}
			s[k] = append(s[k], v)
		}
	}
	return s
}

// writable is what the sandbox leaves writable: ReadWritePaths= and the
// directories systemd makes for StateDirectory= and its kind.
func (s service) writable() []string {
	var dirs []string
	for _, v := range s["ReadWritePaths"] {
		for _, p := range strings.Fields(v) {
			dirs = append(dirs, strings.TrimLeft(p, "-+"))
		}
	}
	base := map[string]string{"StateDirectory": "/var/lib", "CacheDirectory": "/var/cache", "LogsDirectory": "/var/log",
		"RuntimeDirectory": "/run", "ConfigurationDirectory": ""} // ConfigurationDirectory stays read-only
	for key, root := range base {
		for _, v := range s[key] {
			for _, d := range strings.Fields(v) {
				if root != "" {
					dirs = append(dirs, filepath.Join(root, strings.SplitN(d, ":", 2)[0]))
				}
			}
		}
	}
	return dirs
}

func under(path string, dirs []string) bool {
	for _, d := range dirs {
		if rel, err := filepath.Rel(d, path); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return true
		}
	}
	return false
}

// collectorDataDir is ingest.data_dir of a collector config, or its
// default. Only that key is read: whether the rest of the sample loads is
// deploy/etc-boilerwatch's test.
func collectorDataDir(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Ingest struct {
			DataDir string `yaml:"data_dir"`
		} `yaml:"ingest"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if c.Ingest.DataDir == "" {
		return collectorconfig.DefaultDataDir
	}
	if !filepath.IsAbs(c.Ingest.DataDir) {
		t.Fatalf("%s: ingest.data_dir %q: the sample should name an absolute directory", file, c.Ingest.DataDir)
	}
	return c.Ingest.DataDir
}

// configFlag is the -config file of ExecStart.
func configFlag(t *testing.T, s service) string {
	t.Helper()
	m := regexp.MustCompile(`-config[ =](\S+)`).FindStringSubmatch(strings.Join(s["ExecStart"], " "))
	if m == nil {
		t.Fatalf("ExecStart %q has no -config", s["ExecStart"])
	}
	return m[1]
}

func TestWritablePaths(t *testing.T) {
	gwUnit := readUnit(t, "boilerwatch-gateway.service")
	colUnit := readUnit(t, "boilerwatch-collector.service")
	// The samples are what an install copies to /etc/boilerwatch.
	gw, err := fwconfig.LoadGateway("../etc-boilerwatch/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dataDir := collectorDataDir(t, "../etc-boilerwatch/collector.yaml")
	gwConfig := configFlag(t, gwUnit)
	tests := []struct {
		unit   string
		s      service
		path   string
		writer string
	}{
		{"gateway", gwUnit, gw.Queue.Dir, "the disk queue"},
		{"gateway", gwUnit, remote.StatePath(gw), "the remote config state (rolled-back versions)"},
		{"gateway", gwUnit, gwConfig, "a pushed config"},
		{"gateway", gwUnit, gwConfig + ".prev", "the config a push replaced"},
		{"gateway", gwUnit, filepath.Join(filepath.Dir(gwConfig), ".gateway.yaml.tmp"), "the temporary file renamed over the config"},
		{"collector", colUnit, dataDir, "the dead-letter store and learned field types"},
	}
	for _, tc := range tests {
		t.Run(tc.unit+" "+tc.writer, func(t *testing.T) {
			if got := tc.s["ProtectSystem"]; len(got) != 1 || got[0] != "strict" {
				t.Errorf("ProtectSystem=%v; the units are meant to be sandboxed (strict)", got)
			}
			if !under(tc.path, tc.s.writable()) {
				t.Errorf("%s writes %s at %s, which its unit keeps read-only (writable: %v)", tc.unit, tc.writer, tc.path, tc.s.writable())
			}
		})
	}
}

// TestVerify runs systemd-analyze verify on each unit, with ExecStart
// pointing at an executable that exists here (the test binary): systemd
// refuses a unit whose command is missing, and the binaries are installed
// only on a gateway.
func TestVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian: apt-get install systemd)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe := regexp.MustCompile(`(?m)^ExecStart=\S+`)
	for _, name := range []string{"boilerwatch-gateway.service", "boilerwatch-collector.service"} {
		t.Run(name, func(t *testing.T) {
			unit, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(path, exe.ReplaceAll(unit, []byte("ExecStart="+self)), 0o644); err != nil {
				t.Fatal(err)
			}
			// verify exits 0 on warnings (unknown keys, relative paths):
			// any output is a failure.
			out, err := exec.Command(analyze, "verify", path).CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
			}
		})
	}
}
