//go:build !linux

package main

import "github.com/boilerwatch/boilerwatch/gateway/telemetry"

// clockState cannot tell outside Linux.
func clockState() string { return telemetry.ClockUnknown }
