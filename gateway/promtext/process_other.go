//go:build !linux

package promtext

// processCollector collects nothing outside Linux: the process_* metrics
// come from /proc.
type processCollector struct{}

// NewProcessCollector returns a collector of the process_* metrics under
// client_golang's names. On systems other than Linux it collects nothing.
func NewProcessCollector() Collector { return processCollector{} }

// Describe implements Collector.
func (processCollector) Describe() []*Desc { return nil }

// Collect implements Collector.
func (processCollector) Collect(*Scrape) {}
