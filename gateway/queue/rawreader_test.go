package queue

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// A raw segment is read through a window of rawChunk bytes: records that
// straddle the window's end, a file that grows while it is read, and
// damage far into the file come out as from a whole-file read, with
// damage at its file offset.
func TestRawReaderWindow(t *testing.T) {
	t.Parallel()
	file := []byte(rawHeader)
	var offsets []int
	for seq := uint64(1); seq <= 2000; seq++ {
		offsets = append(offsets, len(file))
		file = appendRecord(file, seq, bytes.Repeat([]byte{byte(seq)}, int(seq%300)))
	}
	if len(file) < 4*rawChunk {
		t.Fatalf("test segment of %d bytes does not span several windows", len(file))
	}
	bad := offsets[1500] + recordHeader + 2 // inside record 1501's body
	damaged := bytes.Clone(file)
	damaged[bad] ^= 0xFF
	for _, tc := range []struct {
		name    string
		data    []byte
		growing bool // read as an active segment, 1000 bytes more each time
		missing uint64
	}{
		{"sealed", file, false, 0},
		{"growing", file, true, 0},
		{"damaged", damaged, false, 1501},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "seg")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := openSegReader(path, false)
			if err != nil {
				t.Fatal(err)
			}
			defer r.close()
			want := uint64(1)
			limit := int64(0)
			for want <= 2000 {
				l := int64(-1)
				if tc.growing {
					limit = min(limit+1000, int64(len(tc.data)))
					l = limit
				}
				rec, err := r.next(l)
				if errors.Is(err, io.EOF) {
					if !tc.growing || limit == int64(len(tc.data)) {
						break
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if want == tc.missing {
					want++
				}
				if rec.Seq != want || !bytes.Equal(rec.Payload, bytes.Repeat([]byte{byte(want)}, int(want%300))) {
					t.Fatalf("record %d: got seq %d with %d bytes", want, rec.Seq, len(rec.Payload))
				}
				want++
			}
			if want != 2001 {
				t.Fatalf("stopped before record %d", want)
			}
			d := r.damaged()
			switch {
			case tc.missing == 0 && len(d) != 0:
				t.Errorf("damage %v in a clean segment", d)
			case tc.missing != 0 && (len(d) != 1 || d[0].offset != int64(offsets[1500])):
				t.Errorf("damage %v, want one region at offset %d", d, offsets[1500])
			}
		})
	}
}
