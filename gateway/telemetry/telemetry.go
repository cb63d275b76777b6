// Package telemetry is the MQTT wire contract between gateway and collector:
// topics, the telemetry message and the gateway status. Both binaries import
// it so the format is defined once.
package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
)

// Version is the wire-format version carried in every message as "v".
const Version = 1

// MaxPayload bounds what a collector accepts; a poll of a large meter is a few KiB.
const MaxPayload = 256 << 10

// Quality of one value, after Sparkplug's GOOD/BAD/STALE.
type Quality string

const (
	Good  Quality = "good"
	Bad   Quality = "bad"
	Stale Quality = "stale"
)

// Sample is everything one poll of one device produced.
type Sample struct {
	Device  string `json:"device"`
	Profile string `json:"profile"`
	// Class is the device class (boiler, electricity_meter...), the InfluxDB measurement.
	Class string `json:"class"`
	// TS is the source timestamp: Unix milliseconds UTC, taken when the response arrived.
	TS     int64            `json:"ts"`
	Values map[string]Value `json:"values"`
}

// Message is one telemetry publish: one poll of a point group.
type Message struct {
	V       int    `json:"v"`
	Site    string `json:"site"`
	Gateway string `json:"gateway"`
	Seq     uint64 `json:"seq"`
	Boot    string `json:"boot"`
	// Historical is true when the message is replayed from the gateway's disk queue.
	Historical bool     `json:"historical,omitempty"`
	Samples    []Sample `json:"samples"`
}

// Status is the retained gateway status: birth on connect, last will when gone.
type Status struct {
	V             int    `json:"v"`
	Gateway       string `json:"gateway"`
	State         string `json:"state"` // online | offline
	Version       string `json:"version,omitempty"`
	ConfigVersion string `json:"config_version,omitempty"`
	// ConfigApplied is when the gateway applied ConfigVersion, Unix ms UTC:
	// the moment a pushed config took over, or, for the config it started
	// with, when that file was written.
	ConfigApplied int64                  `json:"config_applied,omitempty"`
	Boot          string                 `json:"boot"`
	Seq           uint64                 `json:"seq,omitempty"`
	TS            int64                  `json:"ts,omitempty"`
	Devices       map[string]DeviceState `json:"devices,omitempty"`
	// Queue is the gateway's store-and-forward queue.
	Queue *QueueStatus `json:"queue,omitempty"`
	// UptimeS is the seconds since the gateway process started.
	UptimeS int64 `json:"uptime_s,omitempty"`
	// Clock says whether the gateway's system clock is synchronised: every
	// sample's timestamp is taken from it (ClockSynchronised, ...).
	Clock string `json:"clock,omitempty"`
}

// Clock states of Status.Clock.
const (
	ClockSynchronised   = "synchronised"
	ClockUnsynchronised = "unsynchronised"
	ClockUnknown        = "unknown"
)

// QueueStatus reports the gateway's disk queue: what waits for the broker,
// and, counted since the gateway started, every record it could not deliver.
type QueueStatus struct {
	Pending uint64 `json:"pending"` // records not yet acknowledged by the broker
	Bytes   int64  `json:"bytes"`   // disk used by the queue
	// Dropped: deleted unsent because the queue reached queue.max_bytes.
	Dropped uint64 `json:"dropped"`
	// Lost: records that could not be stored, or were unreadable on disk.
	Lost uint64 `json:"lost"`
	// Damaged: damaged regions found in queue files (torn or corrupt records).
	Damaged uint64 `json:"damaged"`
	// Quarantined: files moved to the queue's quarantine/ directory.
	Quarantined uint64 `json:"quarantined"`
	// OldestTS is the source timestamp of the oldest sample still in the
	// queue, Unix ms UTC; absent when nothing waits. Its age is how far
	// behind the collector's data of this gateway is.
	OldestTS int64 `json:"oldest_ts,omitempty"`
}

// DeviceState is a device's health as the gateway sees it.
type DeviceState struct {
	State     string `json:"state"` // online | degraded | offline | unknown
	LastError string `json:"last_error,omitempty"`
}

// root starts every topic of wire version 1 (docs/wire-format.md): the
// version changes together with the payloads' "v".
const root = "boilerwatch/v1/"

// gatewayTopic is a gateway's topic of the given kind:
// boilerwatch/v1/{site}/{gateway}/{kind}.
func gatewayTopic(site, gateway, kind string) string { return root + site + "/" + gateway + "/" + kind }

// SamplesTopic is where a gateway publishes its telemetry messages.
func SamplesTopic(site, gateway string) string { return gatewayTopic(site, gateway, "telemetry") }

// StatusTopic carries the retained birth and the last will.
func StatusTopic(site, gateway string) string { return gatewayTopic(site, gateway, "status") }

// HeartbeatTopic carries the collectors' heartbeat (QoS 0, not retained):
// a collector publishes one every HeartbeatEvery while it is subscribed to
// telemetry. A gateway forwards its queue only while it hears one, so no
// message reaches a broker that has nobody to keep it for (after a broker
// restart Mosquitto 2.0 has forgotten shared subscriptions until the
// collectors subscribe again). Four levels, so no telemetry or status
// filter matches it.
const HeartbeatTopic = root + "collectors/heartbeat"

// HeartbeatEvery is how often collectors send a heartbeat; a gateway that
// heard none for three times as long stops forwarding.
const HeartbeatEvery = 2 * time.Second

// Heartbeat is the payload on HeartbeatTopic.
type Heartbeat struct {
	Collector string `json:"collector"` // the collector's MQTT client id
	TS        int64  `json:"ts"`        // Unix ms
}

// PresenceTopic carries a collector's presence (QoS 1, retained) when
// collectors share the energy engine's work (docs/collectors.md): the
// collector publishes a Presence on connecting and leaves an empty
// retained message as its last will, which clears it when the broker loses
// the collector. Five levels: a gateway's own five-level topics end in
// telemetry or status, names ValidPresenceID refuses, so no gateway can
// write one.
func PresenceTopic(collector string) string { return root + "collectors/presence/" + collector }

// PresenceFilter subscribes to every collector's presence.
const PresenceFilter = root + "collectors/presence/+"

// Presence is the payload on PresenceTopic; an empty payload means the
// collector is gone.
type Presence struct {
	Collector string `json:"collector"` // the collector's id, as in the topic
	// Instance tells one run of the collector from the next (Unix ms of
	// its start): a will left by the previous run is not this run's.
	Instance int64 `json:"instance"`
	TS       int64 `json:"ts"` // Unix ms of the announcement
}

// ValidPresenceID reports whether id can name a collector in
// PresenceTopic: a name, and not a gateway topic's last level.
func ValidPresenceID(id string) bool {
	return ValidName(id) && id != "telemetry" && id != "status"
}

// ParsePresence reads a presence message: the collector's id from the
// topic, and its Presence, or nil when the payload is empty (gone).
func ParsePresence(topic string, payload []byte) (string, *Presence, error) {
	id, ok := strings.CutPrefix(topic, root+"collectors/presence/")
	if !ok || !ValidPresenceID(id) {
		return "", nil, fmt.Errorf("%w: presence topic %q: want %s{collector}", ErrInvalid, topic, root+"collectors/presence/")
	}
	if len(payload) == 0 {
		return id, nil, nil
	}
	var p Presence
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return "", nil, fmt.Errorf("%w: presence of %s: %v", ErrInvalid, id, err)
	}
	if p.Collector != id {
		return "", nil, fmt.Errorf("%w: presence of %s names collector %q", ErrInvalid, id, p.Collector)
	}
	return id, &p, nil
}

// SamplesFilter subscribes to every gateway's telemetry.
const SamplesFilter = root + "+/+/telemetry"

// StatusFilter subscribes to every gateway's status.
const StatusFilter = root + "+/+/status"

// ParseTopic splits a telemetry or status topic into site and gateway.
func ParseTopic(topic string) (site, gateway, kind string, err error) {
	// Cut, not Split: the collector parses every message's topic.
	rest, ok := strings.CutPrefix(topic, root)
	site, rest, ok2 := strings.Cut(rest, "/")
	gateway, kind, ok3 := strings.Cut(rest, "/")
	if !ok || !ok2 || !ok3 || site == "" || gateway == "" || strings.Contains(kind, "/") {
		return "", "", "", fmt.Errorf("topic %q: want %s{site}/{gateway}/{kind}", topic, root)
	}
	return site, gateway, kind, nil
}

// ValidName reports whether s can serve as a site, gateway, device,
// profile, class or point name: it becomes an MQTT topic level and an
// InfluxDB tag value, measurement or field key, so it is plain ASCII (no
// control, bidi or invisible character, nothing a tag would need escaped).
// A point name must also pass ValidPointName.
// The rule is conf.ValidName, the one every config file checks names with.
func ValidName(s string) bool { return conf.ValidName(s) }

// Errors from Decode, for counting rejects by reason.
var (
	ErrTooLarge = errors.New("payload too large")
	ErrSyntax   = errors.New("not a JSON telemetry message")
	ErrVersion  = errors.New("unsupported wire version")
	ErrInvalid  = errors.New("invalid message")
)

// Decode parses and validates a telemetry payload. Every error wraps one of
// ErrTooLarge, ErrSyntax, ErrVersion or ErrInvalid.
func Decode(payload []byte) (*Message, error) {
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(payload), MaxPayload)
	}
	if !utf8.Valid(payload) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrSyntax)
	}
	// A well-formed message is parsed once (decoding is the collector's
	// main cost when it drains a backlog): as the Encoder writes it by
	// decodeFast, otherwise by encoding/json. Anything else takes the path
	// below, which tells the reasons apart.
	m, ok := decodeFast(payload)
	if !ok {
		m, ok = decodeWellFormed(payload)
	}
	if ok {
		if err := m.Validate(); err != nil {
			return nil, err
		}
		return m, nil
	}
	var probe struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if probe.V == nil || *probe.V != Version {
		got := "missing"
		if probe.V != nil {
			got = fmt.Sprint(*probe.V)
		}
		return nil, fmt.Errorf("%w: v=%s, want %d", ErrVersion, got, Version)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	m = new(Message)
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after message", ErrInvalid)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeWellFormed decodes payload strictly with encoding/json, for what
// decodeFast leaves; ok only if it is one JSON
// object of wire version 1 with known fields and nothing but JSON
// whitespace after it — exactly the payloads for which the probing path
// of Decode reaches Validate with the same message.
func decodeWellFormed(payload []byte) (*Message, bool) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var m Message
	if err := dec.Decode(&m); err != nil || m.V != Version {
		return nil, false
	}
	if rest := payload[dec.InputOffset():]; len(bytes.Trim(rest, " \t\r\n")) != 0 {
		return nil, false
	}
	return &m, true
}

// Validate checks a message's fields.
func (m *Message) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if !ValidName(m.Site) {
		return bad("site %q is not a valid name", m.Site)
	}
	if !ValidName(m.Gateway) {
		return bad("gateway %q is not a valid name", m.Gateway)
	}
	// InfluxDB stores seq as an int64 field: a larger one would come out
	// negative.
	if m.Seq > math.MaxInt64 {
		return bad("seq %d is larger than 2^63-1", m.Seq)
	}
	if err := checkBoot(m.Boot); err != nil {
		return bad("%v", err)
	}
	if len(m.Samples) == 0 {
		return bad("no samples")
	}
	for i := range m.Samples {
		s := &m.Samples[i]
		if !ValidName(s.Device) {
			return bad("samples[%d]: device %q is not a valid name", i, s.Device)
		}
		if !ValidName(s.Class) {
			return bad("samples[%d]: class %q is not a valid name", i, s.Class)
		}
		// The profile is an InfluxDB tag value: a trailing backslash, a NUL
		// or a U+202E would be stored, or break the write of the batch.
		if !ValidName(s.Profile) {
			return bad("samples[%d]: profile %q is not a valid name", i, s.Profile)
		}
		// 2000-01-01 .. 2100-01-01: anything else is a broken clock or a unit error.
		if s.TS < 946684800000 || s.TS > 4102444800000 {
			return bad("samples[%d]: ts %d is not Unix milliseconds between 2000 and 2100", i, s.TS)
		}
		if len(s.Values) == 0 {
			return bad("samples[%d]: no values", i)
		}
		for name, v := range s.Values {
			if !ValidName(name) {
				return bad("samples[%d]: point name %q is not valid", i, name)
			}
			if ReservedField(name) {
				return bad("samples[%d]: point name %q is reserved (InfluxDB's time, or the collector's fields starting with %s)", i, name, ReservedPrefix)
			}
			switch v.Q {
			case Good:
				if err := v.check(); err != nil {
					return bad("samples[%d].%s: %v", i, name, err)
				}
			case Bad, Stale:
				if v.Kind != KindNone {
					return bad("samples[%d].%s: a %s value carries no number", i, name, v.Q)
				}
				if v.Reset {
					return bad("samples[%d].%s: reset marks a good counter value, not a %s one", i, name, v.Q)
				}
			default:
				return bad("samples[%d].%s: quality %q is not good, bad or stale", i, name, v.Q)
			}
			if len(v.Err) > MaxErr {
				return bad("samples[%d].%s: err longer than %d bytes", i, name, MaxErr)
			}
			if err := CheckText(v.Err); err != nil {
				return bad("samples[%d].%s: err: %v", i, name, err)
			}
		}
	}
	return nil
}

// ConfigTopic carries the retained signed config for one gateway.
func ConfigTopic(site, gateway string) string { return gatewayTopic(site, gateway, "config") }

// ConfigAckTopic carries the gateway's verdict on each pushed config.
func ConfigAckTopic(site, gateway string) string { return gatewayTopic(site, gateway, "config/ack") }

// Outcomes of a config push.
const (
	ConfigApplied    = "applied"
	ConfigRejected   = "rejected"
	ConfigRolledBack = "rolled_back"
)

// ConfigAck is the gateway's answer to a pushed config.
type ConfigAck struct {
	V       int    `json:"v"`
	Gateway string `json:"gateway"`
	// Version is the pushed config's version; Running the one in force after.
	Version int    `json:"version"`
	Running int    `json:"running"`
	Status  string `json:"status"` // applied | rejected | rolled_back
	Reason  string `json:"reason,omitempty"`
	TS      int64  `json:"ts"`
}
