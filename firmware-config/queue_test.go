package fwconfig

import (
	"strings"
	"testing"
	"time"
)

func TestQueueConfig(t *testing.T) {
	const head = "site: s\ngateway: g\nmqtt: {broker: \"tcp://b:1883\"}\ndevices: [{name: d, profile: chint-dtsu666, address: \"h:502\"}]\n"
	tests := []struct {
		name  string
		queue string
		check func(q Queue) bool
		err   string
	}{
		{"defaults", "queue: {dir: /q}\n", func(q Queue) bool {
			return q.MaxBytes.Bytes == 500_000_000 && q.WriteBehind.Window.Duration == time.Second && q.Fsync.Window.Duration == 100*time.Millisecond && !q.Fsync.Always &&
				q.FsyncRecords == 100 && q.ReplayRate == 200 && q.WaitForCollector
		}, ""},
		{"all set", "queue: {dir: /q, max_bytes: 2GiB, fsync: 1s, fsync_records: 10, replay_rate: 0, wait_for_collector: false}\n", func(q Queue) bool {
			return q.MaxBytes.Bytes == 2<<30 && q.Fsync.Window.Duration == time.Second && q.FsyncRecords == 10 && q.ReplayRate == 0 && !q.WaitForCollector
		}, ""},
		{"bytes as a number", "queue: {dir: /q, max_bytes: 10000000}\n", func(q Queue) bool { return q.MaxBytes.Bytes == 10_000_000 }, ""},
		{"decimal units", "queue: {dir: /q, max_bytes: 1.5GB}\n", func(q Queue) bool { return q.MaxBytes.Bytes == 1_500_000_000 }, ""},
		{"fsync always", "queue: {dir: /q, fsync: always}\n", func(q Queue) bool { return q.Fsync.Always && q.WriteBehind.Window.Duration == 0 }, ""},
		{"write-behind", "queue: {dir: /q, write_behind: 2s}\n", func(q Queue) bool { return q.WriteBehind.Window.Duration == 2*time.Second }, ""},
		{"write-behind off", "queue: {dir: /q, write_behind: 0, fsync: 1s}\n", func(q Queue) bool {
			return q.WriteBehind.Window.Duration == 0 && q.Fsync.Window.Duration == time.Second
		}, ""},
		{"write-behind 0s", "queue: {dir: /q, write_behind: 0s}\n", func(q Queue) bool { return q.WriteBehind.Window.Duration == 0 }, ""},
		{"bad write-behind", "queue:\n  dir: /q\n  write_behind: 2h\n", nil, "g.yaml:7: queue.write_behind: 2h0m0s: want a duration between 10ms and 1m"},
		{"write-behind and fsync always", "queue:\n  dir: /q\n  fsync: always\n  write_behind: 1s\n", nil, "g.yaml:8: queue.write_behind: 1s contradicts fsync: always"},
		{"bad size", "queue:\n  dir: /q\n  max_bytes: lots\n", nil, "g.yaml:7: queue.max_bytes: \"lots\" is not a size"},
		{"too small", "queue:\n  dir: /q\n  max_bytes: 1kB\n", nil, "g.yaml:7: queue.max_bytes: 1kB is below the minimum 1MiB"},
		{"bad fsync", "queue:\n  dir: /q\n  fsync: sometimes\n", nil, "g.yaml:7: queue.fsync: \"sometimes\" is not a duration (write e.g. 1s, 500ms, 1m), or always"},
		{"negative rate", "queue:\n  dir: /q\n  replay_rate: -5\n", nil, "g.yaml:7: queue.replay_rate: -5: want messages per second"},
		{"no dir", "queue: {max_bytes: 1GB}\n", nil, "g.yaml:5: queue.dir: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := ParseGateway("g.yaml", []byte(head+tt.queue))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(g.Queue) {
				t.Errorf("resolved %+v", g.Queue)
			}
		})
	}
}
