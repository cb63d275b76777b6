package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateCommand(t *testing.T) {
	td := filepath.Join("..", "..", "testdata")
	ptd := filepath.Join("..", "..", "profile", "testdata")
	tests := []struct {
		args      []string
		code      int
		stdout    string
		stderrHas string
	}{
		{[]string{"validate", filepath.Join(td, "gateway/valid/gateway.yaml")}, 0, "gateway.yaml: ok", ""},
		{[]string{"validate", filepath.Join(ptd, "valid/profile.yaml")}, 0, "profile.yaml: ok", ""},
		{[]string{"-config", filepath.Join(td, "gateway/valid/gateway.yaml")}, 0, "gateway.yaml: ok", ""},
		{[]string{"validate", filepath.Join(td, "gateway/valid/gateway.yaml"), filepath.Join(td, "gateway/bad-interval/gateway.yaml")}, 1, "ok",
			"bad-interval/gateway.yaml:10: devices[0].interval: \"every second\" is not a duration"},
		{[]string{"validate", filepath.Join(ptd, "overlap/profile.yaml")}, 1, "", "profile.yaml:6: points[1].address: holding 11..11 overlaps point \"a\""},
		{[]string{"validate", "no-such-file.yaml"}, 1, "", "no such file"},
		{[]string{"validate"}, 2, "", "name at least one FILE"},
		{[]string{"validate", "-kind", "toaster", "x.yaml"}, 2, "", "-kind \"toaster\": want auto, gateway, collector or profile"},
		{[]string{"frobnicate"}, 2, "", "unknown command"},
		{[]string{"profiles"}, 0, "chint-dtsu666", ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, &out, &errb)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr: %s)", code, tt.code, errb.String())
			}
			if !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.stdout)
			}
			if !strings.Contains(errb.String(), tt.stderrHas) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.stderrHas)
			}
		})
	}
}
