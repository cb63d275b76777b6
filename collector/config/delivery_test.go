package config

import (
	"strings"
	"testing"
	"time"
)

func TestGaps(t *testing.T) {
	const base = "mqtt: {broker: \"tcp://b:1\"}\ninfluxdb: {url: \"http://x\", bucket: b}\n"
	tests := []struct {
		name, yaml string
		want       time.Duration
		err        string
	}{
		{"default", base, 5 * time.Minute, ""},
		{"set", base + "gaps:\n  fill_within: 30s\n", 30 * time.Second, ""},
		{"not a duration", base + "gaps:\n  fill_within: soon\n", 0, "c.yaml:4: gaps.fill_within: \"soon\" is not a duration"},
		{"unknown field", base + "gaps:\n  within: 1m\n", 0, "c.yaml:4: gaps.within: unknown field \"within\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte(tt.yaml))
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("error %v, want prefix %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Gaps.Window(); got != tt.want {
				t.Errorf("Window() = %s, want %s", got, tt.want)
			}
		})
	}
}
