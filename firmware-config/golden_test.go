package fwconfig

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/firmware-config/internal/parsetest"
)

// Each testdata/gateway/<case>/ holds gateway.yaml and either expected.txt
// (the resolved config) or error.txt (the exact message a user sees).
func TestGatewayGolden(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/gateway/*")
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			g, err := LoadGateway(filepath.Join(dir, "gateway.yaml"))
			if err != nil {
				parsetest.Golden(t, filepath.Join(dir, "error.txt"), err.Error()+"\n")
				return
			}
			var b strings.Builder
			fmt.Fprintf(&b, "version %d site %s gateway %s broker %s client %s keepalive %s queue %s\n",
				g.Version, g.Site, g.Gateway, g.MQTT.Broker, g.MQTT.ClientID, g.MQTT.KeepAlive, g.Queue.Dir)
			for _, d := range g.Devices {
				fmt.Fprintf(&b, "device %s profile %s (%s, %d points) %s %s unit %d every %s timeout %s\n",
					d.Name, d.Profile, d.Spec.Class, len(d.Spec.Points), d.Transport, d.Bus.Address, d.UnitID, d.Interval, d.Timeout)
				bus := d.Bus
				fmt.Fprintf(&b, "  bus %s", bus.Key)
				if bus.Transport == RTU {
					fmt.Fprintf(&b, " %d baud parity %s %d data bits %d stop bits", bus.Baud, bus.Parity, bus.DataBits, bus.StopBits)
				}
				fmt.Fprintf(&b, " request_gap %s unit_gap %s connect_pause %s\n", bus.RequestGap, bus.UnitGap, bus.ConnectPause)
				fmt.Fprintf(&b, "  plan max_registers %d max_bits %d max_gap %d; offline backoff up to %s\n",
					d.MaxRegisters, d.MaxBits, d.MaxGapOrDefault(), d.OfflineBackoff)
				for _, gr := range d.Groups {
					var names []string
					for _, p := range gr.Points {
						names = append(names, p.Name)
					}
					fmt.Fprintf(&b, "  group %q every %s: %s\n", gr.Name, gr.Interval, strings.Join(names, " "))
				}
			}
			parsetest.Golden(t, filepath.Join(dir, "expected.txt"), b.String())
		})
	}
}
