package fwconfig

import (
	"fmt"
	"math"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
)

// Queue is where samples wait for the broker's acknowledgement: the
// gateway's store-and-forward queue (gateway/queue, docs/delivery.md).
type Queue struct {
	Dir string `yaml:"dir"`
	// MaxBytes bounds the queue on disk: bytes, or with a unit (500MB,
	// 2GiB). When it is full the oldest records are dropped, counted and
	// reported. Default 500MB, a day of a 20-device site at 1 s holds in
	// about 160 MB.
	MaxBytes conf.ByteSize `yaml:"max_bytes"`
	// WriteBehind is how long a record may wait in memory for the
	// broker's acknowledgement before it is written to flash ("1s", the
	// default): records acknowledged within half of it are never written,
	// so a gateway whose broker answers wears its flash next to nothing. A
	// power loss or a crash of the gateway loses at most this window of
	// records the broker had not acknowledged. "0" writes every record
	// before it is sent (then fsync and fsync_records apply).
	WriteBehind WriteBehind `yaml:"write_behind"`
	// Fsync, with write_behind 0, is the longest a queued record waits
	// for its fsync ("100ms"), or "always" (an fsync per record, and every
	// record on flash before it is sent; it implies write_behind 0). A power
	// loss loses at most this window of records the broker had not
	// acknowledged yet; a crash of the gateway process alone loses nothing.
	Fsync Fsync `yaml:"fsync"`
	// FsyncRecords, with write_behind 0, forces an fsync after this many
	// records (default 100).
	FsyncRecords int `yaml:"fsync_records"`
	// ReplayRateRaw bounds the backlog sent after an outage, messages per
	// second, while live data keeps flowing; 0 is unbounded. Default 200.
	ReplayRateRaw *float64 `yaml:"replay_rate"`
	// WaitForCollectorRaw: forward only while a collector's heartbeat is
	// heard, so nothing is handed to a broker that has nobody to keep it
	// for (default true). Set false to feed another consumer.
	WaitForCollectorRaw *bool `yaml:"wait_for_collector"`

	ReplayRate float64 `yaml:"-"`
	// WaitForCollector is WaitForCollectorRaw resolved.
	WaitForCollector bool `yaml:"-"`
}

// WriteBehind is queue.write_behind: a duration; 0 (or off) writes every
// record before it is sent.
type WriteBehind struct {
	Window conf.Duration
}

// UnmarshalYAML reads a duration or off.
func (w *WriteBehind) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == "off" {
		w.Window = conf.D(0)
		return nil
	}
	return w.Window.UnmarshalYAML(n)
}

// Fsync is queue.fsync: the longest a record waits for its fsync, or
// always.
type Fsync struct {
	Window conf.Duration
	Always bool
}

// UnmarshalYAML reads a duration or always.
func (f *Fsync) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == "always" {
		f.Always = true
		return nil
	}
	if err := f.Window.UnmarshalYAML(n); err != nil {
		return fmt.Errorf("%w, or always", err)
	}
	return nil
}

// Queue defaults.
const (
	DefaultQueueMaxBytes     = 500_000_000
	DefaultQueueWriteBehind  = time.Second
	DefaultQueueFsync        = 100 * time.Millisecond
	DefaultQueueFsyncRecords = 100
	DefaultQueueReplayRate   = 200
)

func (q *Queue) validate(d *conf.Document) {
	if q.Dir == "" {
		d.Errorf("queue.dir", "missing; the gateway keeps samples there until the broker acknowledges them")
	}
	q.MaxBytes.Default(DefaultQueueMaxBytes)
	if q.MaxBytes.Bytes < 1<<20 {
		raw, _ := d.Raw("queue.max_bytes")
		d.Errorf("queue.max_bytes", "%s is below the minimum 1MiB", raw)
	}
	if f := q.Fsync.Window; f.IsSet() && (f.Duration < time.Millisecond || f.Duration > time.Minute) {
		d.Errorf("queue.fsync", "%s: want a duration between 1ms and 1m (e.g. 100ms), or always", f.Duration)
	}
	q.Fsync.Window.Default(DefaultQueueFsync)
	wb := &q.WriteBehind.Window
	switch v := wb.Duration; {
	case !wb.IsSet() && q.Fsync.Always:
		*wb = conf.D(0) // every record on flash before it is sent
	case v > time.Minute || v > 0 && v < 10*time.Millisecond:
		d.Errorf("queue.write_behind", "%s: want a duration between 10ms and 1m (e.g. 1s), or 0 to write every record before it is sent", v)
	case v > 0 && q.Fsync.Always:
		d.Errorf("queue.write_behind", "%s contradicts fsync: always (every record on flash before it is sent); remove one", v)
	}
	wb.Default(DefaultQueueWriteBehind)
	switch {
	case q.FsyncRecords == 0:
		q.FsyncRecords = DefaultQueueFsyncRecords
	case q.FsyncRecords < 1 || q.FsyncRecords > 1_000_000:
		d.Errorf("queue.fsync_records", "%d is outside 1..1000000", q.FsyncRecords)
	}
	q.WaitForCollector = q.WaitForCollectorRaw == nil || *q.WaitForCollectorRaw
	q.ReplayRate = DefaultQueueReplayRate
	if q.ReplayRateRaw != nil {
		if r := *q.ReplayRateRaw; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
			d.Errorf("queue.replay_rate", "%v: want messages per second, 0 for unbounded", r)
		} else {
			q.ReplayRate = r
		}
	}
}
