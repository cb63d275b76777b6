package remote

import (
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
