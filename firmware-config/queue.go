package fwconfig

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/boilerwatch/boilerwatch/firmware-config/yamlpos"
)

// Queue is where samples wait for the broker's acknowledgement: the
// gateway's store-and-forward queue (gateway/queue, docs/delivery.md).
type Queue struct {
	Dir string `yaml:"dir"`
	// MaxBytesRaw bounds the queue on disk: bytes, or with a unit (500MB,
	// 2GiB). When it is full the oldest records are dropped, counted and
	// reported. Default 500MB, a day of a 20-device site at 1 s holds in
	// about 160 MB.
	MaxBytesRaw string `yaml:"max_bytes"`
	// WriteBehindRaw is how long a record may wait in memory for the
	// broker's acknowledgement before it is written to flash ("1s", the
	// default): records acknowledged within half of it are never written,
	// so a gateway whose broker answers wears its flash next to nothing. A
	// power loss or a crash of the gateway loses at most this window of
	// records the broker had not acknowledged. "0" writes every record
	// before it is sent (then fsync and fsync_records apply).
	WriteBehindRaw string `yaml:"write_behind"`
	// FsyncRaw, with write_behind 0, is the longest a queued record waits
	// for its fsync ("100ms"), or "always" (an fsync per record, and every
	// record on flash before it is sent; it implies write_behind 0). A power
	// loss loses at most this window of records the broker had not
	// acknowledged yet; a crash of the gateway process alone loses nothing.
	FsyncRaw string `yaml:"fsync"`
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

	MaxBytes int64 `yaml:"-"`
	// WriteBehind is WriteBehindRaw resolved; 0 is off.
	WriteBehind time.Duration `yaml:"-"`
	Fsync       time.Duration `yaml:"-"`
	FsyncAlways bool          `yaml:"-"`
	ReplayRate  float64       `yaml:"-"`
	// WaitForCollector is WaitForCollectorRaw resolved.
	WaitForCollector bool `yaml:"-"`
}

// Queue defaults.
const (
	DefaultQueueMaxBytes     = 500_000_000
	DefaultQueueWriteBehind  = time.Second
	DefaultQueueFsync        = 100 * time.Millisecond
	DefaultQueueFsyncRecords = 100
	DefaultQueueReplayRate   = 200
)

func (q *Queue) validate(d *yamlpos.Document) {
	if q.Dir == "" {
		d.Errorf("queue.dir", "missing; the gateway keeps samples there until the broker acknowledges them")
	}
	q.MaxBytes = DefaultQueueMaxBytes
	if q.MaxBytesRaw != "" {
		n, err := ParseBytes(q.MaxBytesRaw)
		switch {
		case err != nil:
			d.Errorf("queue.max_bytes", "%v", err)
		case n < 1<<20:
			d.Errorf("queue.max_bytes", "%s is below the minimum 1MiB", q.MaxBytesRaw)
		default:
			q.MaxBytes = n
		}
	}
	q.Fsync = DefaultQueueFsync
	switch q.FsyncRaw {
	case "":
	case "always":
		q.FsyncAlways = true
	default:
		v, err := time.ParseDuration(q.FsyncRaw)
		if err != nil || v < time.Millisecond || v > time.Minute {
			d.Errorf("queue.fsync", "%q: want a duration between 1ms and 1m (e.g. 100ms), or always", q.FsyncRaw)
		} else {
			q.Fsync = v
		}
	}
	q.WriteBehind = DefaultQueueWriteBehind
	switch q.WriteBehindRaw {
	case "":
		if q.FsyncAlways {
			q.WriteBehind = 0 // every record on flash before it is sent
		}
	case "0", "off":
		q.WriteBehind = 0
	default:
		v, err := time.ParseDuration(q.WriteBehindRaw)
		switch {
		case err != nil || v < 0 || v > time.Minute || v > 0 && v < 10*time.Millisecond:
			d.Errorf("queue.write_behind", "%q: want a duration between 10ms and 1m (e.g. 1s), or 0 to write every record before it is sent", q.WriteBehindRaw)
		case v > 0 && q.FsyncAlways:
			d.Errorf("queue.write_behind", "%s contradicts fsync: always (every record on flash before it is sent); remove one", q.WriteBehindRaw)
		default:
			q.WriteBehind = v
		}
	}
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

// ParseBytes reads a size: a number of bytes, or a number with a unit,
// decimal (kB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB).
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult := map[string]float64{
		"": 1, "B": 1,
		"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if mult == 0 || err != nil || v < 0 || v*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size (write e.g. 500MB, 2GiB or a number of bytes)", s)
	}
	return int64(v * mult), nil
}
