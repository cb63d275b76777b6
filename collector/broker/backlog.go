package broker

import (
	"log/slog"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// sessionBacklog is how many unacknowledged messages the embedded broker
// keeps for a consumer's session before it stops acknowledging publishes
// that would add to it. mochi keeps a session's queue as its in-flight set
// and drops, silently and after the publisher has its PUBACK, what does not
// fit in it (MaximumInflight) or in the connection's write queue
// (MaximumClientWritesPending); both are set to twice this, the headroom
// for publishes already past the check.
const sessionBacklog = 8192

// backlogHook holds publishers back while a consumer cannot keep up (the
// collector cannot write to InfluxDB, or a backlog arrives faster than it
// is written): a QoS 1 or 2 publish to a topic that a consumer's session
// with sessionBacklog messages waiting subscribes to gets no PUBACK. Its
// gateway keeps it on disk and sends it again on a new connection
// (gateway/publish: AckTimeout), so nothing is acknowledged that the
// broker might drop. A session that is no consumer's (a tool that
// subscribed once and went away) never holds anyone back: mochi drops
// what its queue cannot take, as Mosquitto would.
type backlogHook struct {
	mqtt.HookBase
	srv      *mqtt.Server
	consumer func(*mqtt.Client) bool
	log      *slog.Logger
	held     atomic.Uint64 // publishes left unacknowledged
	logged   atomic.Int64  // Unix ns of the last warning
}

func (h *backlogHook) ID() string { return "boilerwatch-backlog" }

func (h *backlogHook) Provides(b byte) bool { return b == mqtt.OnPublish }

func (h *backlogHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Qos == 0 {
		return pk, nil
	}
	subs := h.srv.Topics.Subscribers(pk.TopicName)
	full := func(id string) bool {
		c, ok := h.srv.Clients.Get(id)
		return ok && h.consumer(c) && c.State.Inflight.Len() >= sessionBacklog
	}
	for id := range subs.Subscriptions {
		if full(id) {
			return pk, h.hold(cl, id, pk)
		}
	}
	for _, group := range subs.Shared {
		for id := range group {
			if full(id) {
				return pk, h.hold(cl, id, pk)
			}
		}
	}
	return pk, nil
}

func (h *backlogHook) hold(cl *mqtt.Client, consumer string, pk packets.Packet) error {
	h.held.Add(1)
	now := time.Now().UnixNano()
	if last := h.logged.Load(); now-last > int64(time.Minute) && h.logged.CompareAndSwap(last, now) {
		h.log.Warn("consumer backlog full: publishes left unacknowledged, their senders keep them",
			"consumer", consumer, "backlog", sessionBacklog, "publisher", cl.ID, "topic", pk.TopicName, "held_total", h.held.Load())
	}
	return packets.ErrRejectPacket
}
