package queue

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func sleep() { time.Sleep(10 * time.Millisecond) }

// oneFile returns the only file matching pattern in dir.
func oneFile(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(m) != 1 {
		t.Fatalf("%d files match %s", len(m), pattern)
	}
	return m[0]
}

func edit(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// recordOffset is the file offset of the i-th record (0-based) of a raw
// segment written by appendN.
func recordOffset(t *testing.T, data []byte, i int) int {
	t.Helper()
	off := len(rawHeader)
	for range i {
		_, n, err := decodeRecord(data[off:])
		if err != nil {
			t.Fatal(err)
		}
		off += n
	}
	return off
}

func seqRange(lo, hi uint64, except ...uint64) []uint64 {
	var out []uint64
	for s := lo; s <= hi; s++ {
		if !slices.Contains(except, s) {
			out = append(out, s)
		}
	}
	return out
}

// TestDamagedRawSegment: what a crash or a bad disk does to the segment
// being written. The queue opens, logs, quarantines what it cannot read
// and delivers the rest.
func TestDamagedRawSegment(t *testing.T) {
	t.Parallel()
	const n = 30
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		want    []uint64
		lost    uint64
		quar    uint64 // files quarantined
		logLine string
	}{
		{
			name: "torn last record",
			damage: func(t *testing.T, dir string) {
				edit(t, oneFile(t, dir, "*.raw"), func(b []byte) []byte { return b[:len(b)-7] })
			},
			want: seqRange(1, n-1), quar: 1, logLine: "damaged queue data skipped",
		},
		{
			name: "zeros after the last record (power loss on ext4)",
			damage: func(t *testing.T, dir string) {
				edit(t, oneFile(t, dir, "*.raw"), func(b []byte) []byte { return append(b, make([]byte, 4096)...) })
			},
			want: seqRange(1, n), quar: 1, logLine: "damaged queue data skipped",
		},
		{
			name: "bit flip in a payload",
			damage: func(t *testing.T, dir string) {
				edit(t, oneFile(t, dir, "*.raw"), func(b []byte) []byte {
					b[recordOffset(t, b, 9)+recordHeader+bodyHeader+5] ^= 0x10
					return b
				})
			},
			want: seqRange(1, n, 10), lost: 1, quar: 1, logLine: "checksum mismatch",
		},
		{
			name: "bit flip in a length",
			damage: func(t *testing.T, dir string) {
				edit(t, oneFile(t, dir, "*.raw"), func(b []byte) []byte {
					b[recordOffset(t, b, 14)+6] ^= 0x01
					return b
				})
			},
			want: seqRange(1, n, 15), lost: 1, quar: 1, logLine: "damaged queue data skipped",
		},
		{
			name: "garbage between records",
			damage: func(t *testing.T, dir string) {
				edit(t, oneFile(t, dir, "*.raw"), func(b []byte) []byte {
					off := recordOffset(t, b, 20)
					return slices.Concat(b[:off], []byte("BWQR garbage BWQ"), b[off:])
				})
			},
			want: seqRange(1, n), quar: 1, logLine: "damaged queue data skipped",
		},
		{
			name: "bad segment header",
			damage: func(t *testing.T, dir string) {
				edit(t, oneFile(t, dir, "*.raw"), func(b []byte) []byte { b[2] = 'X'; return b })
			},
			want: nil, quar: 1, logLine: "bad segment header",
		},
		{
			name: "segment created, power lost before its header",
			damage: func(t *testing.T, dir string) {
				os.Remove(oneFile(t, dir, "*.raw"))
				os.WriteFile(filepath.Join(dir, rawName(1)), []byte("BWQ"), 0o644)
			},
			want: nil,
		},
		{
			name: "foreign file",
			damage: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o644)
			},
			want: seqRange(1, n), quar: 1, logLine: "not a queue file",
		},
		{
			name: "foreign directory",
			damage: func(t *testing.T, dir string) {
				os.Mkdir(filepath.Join(dir, "backup"), 0o755)
			},
			want: seqRange(1, n), quar: 1, logLine: "not a queue file",
		},
		{
			name: "file named like a segment with foreign content",
			damage: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, zipName(1000, 2000)), []byte("PK\x03\x04 a zip file"), 0o644)
			},
			want: seqRange(1, n), quar: 1, logLine: "bad segment header",
		},
		{
			name: "cursor corrupt: acknowledged records come again",
			damage: func(t *testing.T, dir string) {
				edit(t, filepath.Join(dir, cursorFile), func(b []byte) []byte { b[len(b)-1] ^= 0xFF; return b })
			},
			want: seqRange(1, n+5), quar: 1, logLine: "cursor unreadable",
		},
		{
			name: "seq file corrupt",
			damage: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, "seq"), []byte("twelve\n"), 0o644)
			},
			want: seqRange(1, n), quar: 1, logLine: "sequence restarted above the queued data",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			q, err := Open(Options{Dir: dir, Logger: testLogger(&logBuf{})})
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(tt.name, "cursor") {
				// Five records sent and acknowledged before the crash; a
				// corrupt cursor makes them pending again.
				appendN(t, q, n+5)
				for s := uint64(n + 1); s <= n+5; s++ {
					q.Ack(s)
				}
			} else {
				appendN(t, q, n)
			}
			q.Close()
			tt.damage(t, dir)

			logs := &logBuf{}
			q2, err := Open(Options{Dir: dir, Logger: testLogger(logs)})
			if err != nil {
				t.Fatalf("Open after damage: %v", err)
			}
			defer q2.Close()
			got := drain(t, q2)
			if !slices.Equal(got, tt.want) {
				t.Errorf("delivered %v\nwant      %v", got, tt.want)
			}
			st := q2.Stats()
			if st.Lost != tt.lost || st.Quarantined != tt.quar {
				t.Errorf("stats %+v, want lost %d, quarantined %d", st, tt.lost, tt.quar)
			}
			if tt.logLine != "" && !strings.Contains(logs.String(), tt.logLine) {
				t.Errorf("log lacks %q:\n%s", tt.logLine, logs.String())
			}
			// The queue keeps working, numbering above everything seen.
			seq := appendN(t, q2, 1)[0]
			if seq <= n+5 {
				t.Errorf("next seq %d reuses a number", seq)
			}
			if tt.quar > 0 {
				if q, _ := os.ReadDir(filepath.Join(dir, quarantineDir)); len(q) == 0 {
					t.Error("quarantine/ is empty")
				}
			}
		})
	}
}

// TestDamagedCompressedSegment: damage in a compressed segment costs the
// records of the damaged block only; the file is quarantined once its
// readable records are sent.
func TestDamagedCompressedSegment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)*2/3] }},
		{"bit flip in a block", func(b []byte) []byte { b[len(b)/2] ^= 0x04; return b }},
		{"block header overwritten", func(b []byte) []byte {
			i := strings.Index(string(b[len(zipHeader)+1:]), string(blockMagicBytes[:])) + len(zipHeader) + 1
			copy(b[i:], "XXXXXXXXXXXXXXXX")
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			q, err := Open(Options{Dir: dir, SegmentBytes: 300 << 10, Logger: testLogger(&logBuf{})})
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, q, 3000)
			waitFor(t, func() bool { return q.Stats().Compacted == 1 })
			q.Close()
			zpath := oneFile(t, dir, "*.z")
			first, last, _, _ := parseSegmentName(filepath.Base(zpath))
			edit(t, zpath, tt.damage)

			logs := &logBuf{}
			q2, err := Open(Options{Dir: dir, Logger: testLogger(logs)})
			if err != nil {
				t.Fatal(err)
			}
			defer q2.Close()
			got := drain(t, q2)
			inZip := 0
			for _, s := range got {
				if s >= first && s <= last {
					inZip++
				}
			}
			wantOutside := 3000 - int(last-first+1)
			if len(got)-inZip != wantOutside {
				t.Errorf("records outside the damaged segment: %d, want %d", len(got)-inZip, wantOutside)
			}
			if inZip == 0 || inZip == int(last-first+1) {
				t.Errorf("%d of %d records of the damaged segment delivered; want some, not all", inZip, last-first+1)
			}
			st := q2.Stats()
			if st.Lost != uint64(3000-len(got)) || st.Damaged == 0 {
				t.Errorf("stats %+v: want lost = %d and damage reported", st, 3000-len(got))
			}
			for _, s := range got {
				q2.Ack(s)
			}
			if _, err := os.Stat(filepath.Join(dir, quarantineDir, filepath.Base(zpath))); err != nil {
				t.Errorf("damaged segment not quarantined after its records were sent: %v", err)
			}
			if !strings.Contains(logs.String(), "damaged queue data skipped") {
				t.Errorf("no damage log line:\n%s", logs.String())
			}
		})
	}
}
