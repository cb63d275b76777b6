package telemetry

import (
	"fmt"
	"strings"
)

// UpdateTopic carries the retained signed release (fwconfig release sign)
// announced to one gateway.
func UpdateTopic(site, gateway string) string { return gatewayTopic(site, gateway, "update") }

// SiteUpdateTopic carries the retained signed release announced to every
// gateway of a site. Four levels, like alerts: no gateway filter matches it.
func SiteUpdateTopic(site string) string { return root + site + "/update" }

// UpdateAckTopic carries a gateway's progress and outcome of announced
// releases.
func UpdateAckTopic(site, gateway string) string { return gatewayTopic(site, gateway, "update/ack") }

// States of a software update, in an UpdateAck.
const (
	UpdateDownloading = "downloading" // progress: done of total bytes on disk
	UpdateSwitching   = "switching"   // verified; the gateway restarts into it
	UpdateUpdated     = "updated"     // the new binary runs, connected and polling
	UpdateRejected    = "rejected"    // not installed: signature, target, version, rolled back before
	UpdateFailed      = "failed"      // download or switch failed; retried
	UpdateRolledBack  = "rolled_back" // the new binary was not healthy; the previous one runs
)

// UpdateAck is a gateway's report on an announced release.
type UpdateAck struct {
	V       int    `json:"v"`
	Gateway string `json:"gateway"`
	// Release is the announced software version; Running the one in force.
	Release string `json:"release"`
	Running string `json:"running"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	// Done and Total are the bytes downloaded and the binary's size.
	Done  int64 `json:"done,omitempty"`
	Total int64 `json:"total,omitempty"`
	TS    int64 `json:"ts"`
}

// UpdateAckFilter subscribes to every gateway's update reports.
const UpdateAckFilter = root + "+/+/update/ack"

// ParseUpdateAckTopic returns the site and gateway of an update/ack topic.
func ParseUpdateAckTopic(topic string) (site, gateway string, err error) {
	rest, ok := strings.CutPrefix(topic, root)
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 4 || parts[2] != "update" || parts[3] != "ack" || !ValidName(parts[0]) || !ValidName(parts[1]) {
		return "", "", fmt.Errorf("topic %q: want %s{site}/{gateway}/update/ack", topic, root)
	}
	return parts[0], parts[1], nil
}
