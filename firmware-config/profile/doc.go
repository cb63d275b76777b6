// Package profile is the device-profile library: the YAML register map of
// each device model (points with register, address, type, byte order,
// scale, unit, groups, holes, plausible ranges and how to identify the
// model), checked with file:line errors (ParseProfile); the built-in
// profiles compiled in from profiles/*.yaml, with those of profile
// directories beside them (LoadLibrary); the register codec between a
// point's registers and its engineering value (Point.Decode, Point.Encode,
// Value); and identification (Identify, IdentifyMatch). profile.schema.json
// lets editors check a profile as it is written.
//
// The gateway decodes what it polls with it (gateway/poll, plan, bus,
// commission) and publishes each Value as a gateway/telemetry value; the
// simulator serves devices from the same profiles (Encode); the collector
// checks incoming samples and ties its energy engine to points with it;
// the gateway config (package fwconfig) names a profile per device. It
// imports nothing of the gateway.
package profile
