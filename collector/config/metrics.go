package config

// Metrics is the collector's monitoring endpoint: /metrics (Prometheus),
// /healthz, /readyz and /loglevel. It has its own address because the
// console's HTTP port asks for a login, which a Prometheus scraper does not
// have, and because it should stay on loopback or a management network
// while the console may face the auditors.
type Metrics struct {
	// Listen is host:port, e.g. 127.0.0.1:9102; empty: off.
	Listen string `yaml:"listen"`
	// Pprof also serves Go's profiler under /debug/pprof/ on Listen, for
	// finding where the process spends its time and memory (off by
	// default: it needs no login and a profile costs CPU while it runs).
	Pprof bool `yaml:"pprof"`
}
