package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/firmware-config/internal/parsetest"
)

// Each testdata/validate/<case>/ holds YAML files, args (the flags before
// them) and output.txt: the exit status, stdout and stderr of
// fwconfig validate ARGS FILES.
func TestValidateGolden(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/validate/*")
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			flags, err := os.ReadFile(filepath.Join(dir, "args"))
			if err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
			args := append(append([]string{"validate"}, strings.Fields(string(flags))...), files...)
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			got := fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", code, out.String(), errb.String())
			parsetest.Golden(t, filepath.Join(dir, "output.txt"), got)
		})
	}
}

// auto tells the three kinds apart by their top-level keys.
func TestKindOf(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"name: p\npoints: []\n", kindProfile},
		{"mqtt: {embedded: \"127.0.0.1:1883\"}\ninfluxdb: {url: \"http://x\"}\n", kindCollector},
		{"gateways:\n  - {site: a, gateway: b}\n", kindCollector},
		{"site: a\ngateway: b\nmqtt: {broker: \"tcp://x:1\"}\ndevices: []\n", kindGateway},
		{"mqtt: {broker: \"tcp://x:1\"}\n", kindGateway},
		{"- a list\n", kindGateway},
		{"site: [unclosed\n", kindGateway},
		{"", kindGateway},
	}
	for _, tt := range tests {
		if got := kindOf([]byte(tt.yaml)); got != tt.want {
			t.Errorf("kindOf(%q) = %s, want %s", tt.yaml, got, tt.want)
		}
	}
}
