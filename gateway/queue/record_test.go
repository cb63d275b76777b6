package queue

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		seq     uint64
		payload []byte
	}{
		{"empty payload", 1, nil},
		{"telemetry", 42, payloadFor(42)},
		{"largest seq", ^uint64(0), []byte("{}")},
		{"largest payload", 7, bytes.Repeat([]byte("x"), maxBody-bodyHeader)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := appendRecord(nil, tt.seq, tt.payload)
			rec, n, err := decodeRecord(append(buf, "trailing"...))
			if err != nil || n != len(buf) || rec.Seq != tt.seq || !bytes.Equal(rec.Payload, tt.payload) {
				t.Fatalf("decode = %d %q, %d, %v", rec.Seq, rec.Payload, n, err)
			}
			// Every proper prefix is short, never corrupt or accepted.
			for _, cut := range []int{0, 1, 3, 4, 11, 12, len(buf) - 1} {
				if _, _, err := decodeRecord(buf[:cut]); !errors.Is(err, errShort) {
					t.Errorf("prefix of %d bytes: %v, want errShort", cut, err)
				}
			}
		})
	}
}

func TestRecordDamage(t *testing.T) {
	t.Parallel()
	good := appendRecord(nil, 9, payloadFor(9))
	tests := []struct {
		name string
		buf  []byte
	}{
		{"bad magic", append([]byte("XWQR"), good[4:]...)},
		{"length too small", func() []byte { b := slices.Clone(good); b[7] = 3; return b }()},
		{"length too large", func() []byte { b := slices.Clone(good); b[4] = 0x7f; return b }()},
		{"flipped payload bit", func() []byte { b := slices.Clone(good); b[len(b)-2] ^= 1; return b }()},
		{"flipped crc bit", func() []byte { b := slices.Clone(good); b[9] ^= 0x80; return b }()},
		{"unknown kind", func() []byte { b := appendRecord(nil, 9, nil); b[recordHeader] = 2; return b }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := decodeRecord(tt.buf); !errors.Is(err, errCorrupt) {
				t.Fatalf("decode: %v, want errCorrupt", err)
			}
		})
	}
}

func TestScanResyncs(t *testing.T) {
	t.Parallel()
	var buf []byte
	for s := uint64(1); s <= 5; s++ {
		buf = appendRecord(buf, s, payloadFor(s))
		if s == 2 {
			buf = append(buf, "noise BWQR more noise"...)
		}
	}
	var got []uint64
	bad := 0
	scanRecords(buf, func(r Record, _ int) { got = append(got, r.Seq) }, func(int, int, string) { bad++ })
	if !slices.Equal(got, []uint64{1, 2, 3, 4, 5}) || bad != 2 {
		t.Fatalf("got %v with %d damaged ranges, want 1..5 and 2 (noise, then the false magic)", got, bad)
	}
}

// FuzzDecodeRecord: whatever the bytes, decodeRecord neither panics nor
// claims more than it was given, fails only with errShort or errCorrupt,
// and what it accepts encodes back to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, 1, payloadFor(1)))
	f.Add(appendRecord(nil, 0, nil))
	f.Add([]byte("BWQR\x00\x00\x00\x09\x00\x00\x00\x00\x01"))
	f.Add(append(appendRecord(nil, 3, []byte("{}")), "BWQR"...))
	f.Fuzz(func(t *testing.T, buf []byte) {
		rec, n, err := decodeRecord(buf)
		if err != nil {
			if !errors.Is(err, errShort) && !errors.Is(err, errCorrupt) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if n > len(buf) || n < recordHeader+bodyHeader {
			t.Fatalf("n = %d of %d bytes", n, len(buf))
		}
		if again := appendRecord(nil, rec.Seq, rec.Payload); !bytes.Equal(again, buf[:n]) {
			t.Fatalf("re-encoding differs:\n%x\n%x", again, buf[:n])
		}
		// The scanner agrees with the decoder on a clean buffer.
		var seqs []uint64
		scanRecords(buf[:n], func(r Record, _ int) { seqs = append(seqs, r.Seq) }, func(int, int, string) { t.Fatal("damage in a valid record") })
		if len(seqs) != 1 || seqs[0] != rec.Seq {
			t.Fatalf("scan found %v", seqs)
		}
	})
}

func TestSpans(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		add  [][2]uint64
		want spans
	}{
		{"single", [][2]uint64{{5, 5}}, spans{{5, 5}}},
		{"adjacent merge", [][2]uint64{{5, 5}, {6, 6}, {4, 4}}, spans{{4, 6}}},
		{"gap kept", [][2]uint64{{1, 2}, {4, 5}}, spans{{1, 2}, {4, 5}}},
		{"bridge", [][2]uint64{{1, 2}, {6, 7}, {3, 5}}, spans{{1, 7}}},
		{"overlap many", [][2]uint64{{1, 1}, {3, 3}, {5, 5}, {0, 10}}, spans{{0, 10}}},
		{"insert before", [][2]uint64{{10, 12}, {1, 2}}, spans{{1, 2}, {10, 12}}},
		{"top of range", [][2]uint64{{^uint64(0) - 1, ^uint64(0)}, {5, 6}, {^uint64(0) - 3, ^uint64(0) - 2}}, spans{{5, 6}, {^uint64(0) - 3, ^uint64(0)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s spans
			for _, a := range tt.add {
				s.add(a[0], a[1])
			}
			if !slices.Equal(s, tt.want) {
				t.Fatalf("got %v, want %v", s, tt.want)
			}
			for _, r := range tt.want {
				if !s.has(r.lo) || !s.has(r.hi) || !s.covers(r.lo, r.hi) || s.count(r.lo, r.hi) != r.hi-r.lo+1 {
					t.Errorf("range %v not fully present", r)
				}
			}
		})
	}
	var s spans
	s.add(1, 10)
	s.add(20, 30)
	s.dropBelow(5)
	if !slices.Equal(s, spans{{5, 10}, {20, 30}}) || s.has(4) || s.count(0, 100) != 17 {
		t.Fatalf("dropBelow: %v", s)
	}
}
