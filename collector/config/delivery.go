package config

import (
	"time"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
)

// Gaps configures the detection of missing telemetry: every gateway numbers
// its messages (seq, per boot), and a gap that replayed backlog has not
// filled within FillWithin is logged, counted and written to InfluxDB as an
// event (measurement events, kind seq_gap). See docs/delivery.md.
type Gaps struct {
	// FillWithin is how long a gap may stay open; default 5m. A gateway
	// replaying an outage's backlog fills gaps late, so this should exceed
	// the longest replay you expect to see reported as a gap rather than
	// not at all; it only delays the report, never loses it.
	FillWithin conf.Duration `yaml:"fill_within"`
}

// DefaultFillWithin is gaps.fill_within when not set.
const DefaultFillWithin = 5 * time.Minute

// Window is the configured fill_within, or the default.
func (g Gaps) Window() time.Duration {
	if !g.FillWithin.IsSet() || g.FillWithin.Duration <= 0 {
		return DefaultFillWithin
	}
	return g.FillWithin.Duration
}
