package console

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// fleetUpdate is a gateway's last report on a software update
// (telemetry.UpdateAck), for the fleet page.
type fleetUpdate struct {
	Release string `json:"release"`
	Status  string `json:"status"`
	Done    int64  `json:"done,omitempty"`
	Total   int64  `json:"total,omitempty"`
	Reason  string `json:"reason,omitempty"`
	At      int64  `json:"at"` // when the gateway reported it, Unix s
}

// maxUpdates bounds the gateways whose update reports are kept: past it,
// reports of gateways not yet known are dropped (the fleet lists only
// gateways with a status anyway).
const maxUpdates = 10000

// updateBook keeps each gateway's last update report.
type updateBook struct {
	mu   sync.Mutex
	last map[[2]string]fleetUpdate
}

// put records an update/ack message; topic names the site and gateway,
// which the payload must agree with.
func (b *updateBook) put(topic string, payload []byte) error {
	site, gw, err := telemetry.ParseUpdateAckTopic(topic)
	if err != nil {
		return err
	}
	var a telemetry.UpdateAck
	if err := json.Unmarshal(payload, &a); err != nil {
		return fmt.Errorf("update ack: %w", err)
	}
	if a.Gateway != gw || a.V != telemetry.Version {
		return fmt.Errorf("update ack of gateway %q v%d on %s's topic", a.Gateway, a.V, gw)
	}
	k := [2]string{site, gw}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == nil {
		b.last = map[[2]string]fleetUpdate{}
	}
	if _, ok := b.last[k]; !ok && len(b.last) >= maxUpdates {
		return fmt.Errorf("update book full (%d gateways)", maxUpdates)
	}
	b.last[k] = fleetUpdate{Release: a.Release, Status: a.Status, Done: a.Done, Total: a.Total, Reason: a.Reason,
		At: time.UnixMilli(a.TS).Unix()}
	return nil
}

// get is the last update report of site/gateway, nil if none came.
func (b *updateBook) get(site, gateway string) *fleetUpdate {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.last[[2]string{site, gateway}]
	if !ok {
		return nil
	}
	return &u
}

// text is the report in one cell: "1.4.0 downloading 45%", "1.4.0 updated".
func (u *fleetUpdate) text() string {
	if u == nil {
		return ""
	}
	if u.Status == telemetry.UpdateDownloading && u.Total > 0 {
		return fmt.Sprintf("%s %s %d%%", u.Release, u.Status, u.Done*100/u.Total)
	}
	return u.Release + " " + u.Status
}
