package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
)

func TestNeedsRestart(t *testing.T) {
	base := func() *fwconfig.Gateway {
		return &fwconfig.Gateway{
			MQTT:   fwconfig.MQTT{Broker: "tcp://127.0.0.1:1883", ClientID: "bw-gw-a"},
			Queue:  fwconfig.Queue{Dir: "/var/lib/bw/queue", MaxBytes: 1 << 20},
			Remote: fwconfig.Remote{PublicKey: "op.pub"},
		}
	}
	tests := []struct {
		name   string
		change func(g *fwconfig.Gateway)
		want   string // substring; "" means applies live
	}{
		{"devices only", func(g *fwconfig.Gateway) { g.Devices = []fwconfig.Device{{Name: "b1"}} }, ""},
		{"new signing key", func(g *fwconfig.Gateway) { g.Remote.PublicKey = "op2.pub" }, ""},
		{"broker", func(g *fwconfig.Gateway) { g.MQTT.Broker = "ssl://127.0.0.1:8883" }, "mqtt"},
		{"client certificate", func(g *fwconfig.Gateway) { g.MQTT.CertFile = "gw.crt" }, "mqtt"},
		{"queue dir", func(g *fwconfig.Gateway) { g.Queue.Dir = "/tmp/q" }, "queue"},
		{"queue size", func(g *fwconfig.Gateway) { g.Queue.MaxBytes = 2 << 20 }, "queue"},
		{"remote config off", func(g *fwconfig.Gateway) { g.Remote.PublicKey = "" }, "public_key removed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := base()
			tc.change(n)
			got := needsRestart(base(), n)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("needsRestart = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	tests := []struct {
		name, content string
	}{
		{"creates", "version: 1\n"},
		{"replaces", "version: 2\n"},
		{"shrinks", "v\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := writeAtomic(path, []byte(tc.content)); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != tc.content {
				t.Fatalf("file = %q, %v; want %q", got, err, tc.content)
			}
			// No temporary file is left behind.
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("%d files in the directory, want 1", len(ents))
			}
		})
	}
	if err := writeAtomic(filepath.Join(dir, "missing", "x.yaml"), nil); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}
