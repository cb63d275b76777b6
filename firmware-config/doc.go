// Package fwconfig is the gateway's configuration: the gateway YAML (site,
// MQTT broker, store-and-forward queue, remote configuration, and the
// devices with their bus, unit, profile, poll interval and point groups),
// loaded and checked against the profile library with every problem
// reported as file:line: field: message (LoadGateway, ParseGateway); and
// signed configs, the ed25519-signed envelope an operator pushes to a
// gateway over MQTT (Sign, ParseSigned, Verify, keys).
//
// The gateway runs on it (gateway/cmd/gateway, poll, plan, bus, commission,
// remote), and the fwconfig command validates, signs and pushes with it.
// Device profiles and their register codec are package profile; YAML
// decoding with file:line positions, durations, sizes and the name rule
// are package conf.
package fwconfig
