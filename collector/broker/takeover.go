package broker

import (
	"bytes"
	"log/slog"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// takeoverHook gives a persistent session's new connection the QoS 1 and 2
// messages that mochi routes to the old one while it hands the session
// over. mochi copies the old client's in-flight messages to the new client
// and only then lists the new client as the session's holder; a message
// published in between goes to the old client and is dropped with it,
// although its publisher already has its PUBACK and has deleted it (a
// gateway's disk queue). EMQX had the same race (emqx#6393).
//
// mochi marks the old client taken over before it copies, and calls
// OnQosPublish right after it stores a message in a client's in-flight
// set, and OnQosDropped when it clears one: so every message stored into
// a taken-over client after the copy is seen here, and is sent to the
// session's new holder once that one is established. A message stored
// just before the copy may be seen too; it is then skipped when the new
// holder has it already, or sent twice, which QoS 1 allows.
type takeoverHook struct {
	mqtt.HookBase
	log *slog.Logger

	mu      sync.Mutex
	holder  map[string]*mqtt.Client     // client ID → the established client holding its session
	orphans map[string][]packets.Packet // client ID → messages waiting for the next holder
}

func newTakeoverHook(log *slog.Logger) *takeoverHook {
	return &takeoverHook{log: log, holder: map[string]*mqtt.Client{}, orphans: map[string][]packets.Packet{}}
}

func (h *takeoverHook) ID() string { return "boilerwatch-takeover" }

func (h *takeoverHook) Provides(b byte) bool {
	return b == mqtt.OnSessionEstablished || b == mqtt.OnQosPublish || b == mqtt.OnQosDropped || b == mqtt.OnDisconnect
}

func (h *takeoverHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, _ int) {
	h.rescue(cl, pk)
}

func (h *takeoverHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	h.rescue(cl, pk)
}

// rescue takes a message stored in, or dropped from, a client whose
// session was taken over.
func (h *takeoverHook) rescue(cl *mqtt.Client, pk packets.Packet) {
	if pk.FixedHeader.Type != packets.Publish || !cl.IsTakenOver() {
		return
	}
	h.mu.Lock()
	holder := h.holder[cl.ID]
	if holder == nil || holder == cl || holder.IsTakenOver() {
		h.orphans[cl.ID] = append(h.orphans[cl.ID], pk.Copy(true))
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	h.send(holder, pk)
}

// OnSessionEstablished runs once mochi lists cl as its session's holder
// and has resent the in-flight messages it inherited.
func (h *takeoverHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.mu.Lock()
	h.holder[cl.ID] = cl
	orphans := h.orphans[cl.ID]
	delete(h.orphans, cl.ID)
	h.mu.Unlock()
	for _, pk := range orphans {
		if has, ok := cl.State.Inflight.Get(pk.PacketID); ok && has.TopicName == pk.TopicName && bytes.Equal(has.Payload, pk.Payload) {
			continue // copied with the session
		}
		h.send(cl, pk)
	}
}

// OnDisconnect forgets a session that ends with its connection.
func (h *takeoverHook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	if !expire || cl.IsTakenOver() {
		return
	}
	h.mu.Lock()
	if h.holder[cl.ID] == cl {
		delete(h.holder, cl.ID)
		delete(h.orphans, cl.ID)
	}
	h.mu.Unlock()
}

// send stores pk in cl's in-flight set under a new packet ID and writes it,
// as mochi does for a subscriber; if cl is itself taken over meanwhile,
// OnQosPublish brings the message to the next holder.
func (h *takeoverHook) send(cl *mqtt.Client, pk packets.Packet) {
	id, err := cl.NextPacketID()
	if err != nil {
		h.log.Error("session taken over: no packet ID left for a message of the old connection", "client", cl.ID, "topic", pk.TopicName, "error", err)
		return
	}
	out := pk.Copy(false)
	out.PacketID = uint16(id)
	cl.State.Inflight.Set(out)
	h.OnQosPublish(cl, out, out.Created, 0)
	// A closed connection keeps the message in flight for the next one.
	_ = cl.WritePacket(out)
}
