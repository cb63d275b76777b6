package remote

import (
	"strings"
	"testing"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
)

func TestNeedsRestart(t *testing.T) {
	t.Parallel()
	base := func() *fwconfig.Gateway {
		return &fwconfig.Gateway{
			MQTT:   fwconfig.MQTT{Broker: "tcp://127.0.0.1:1883", ClientID: "bw-gw-a", KeepAlive: conf.Duration{Duration: 30 * time.Second}},
			Queue:  fwconfig.Queue{Dir: "/var/lib/bw/queue", MaxBytes: conf.ByteSize{Bytes: 1 << 20}},
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
		{"queue size", func(g *fwconfig.Gateway) { g.Queue.MaxBytes.Bytes = 2 << 20 }, "queue"},
		// The default keepalive written out is the same setting.
		{"keepalive written as its default", func(g *fwconfig.Gateway) { g.MQTT.KeepAlive = conf.D(30 * time.Second) }, ""},
		{"keepalive", func(g *fwconfig.Gateway) { g.MQTT.KeepAlive = conf.D(time.Minute) }, "mqtt"},
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
