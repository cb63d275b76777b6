package ingest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func letter(i int) *Letter {
	l := newLetter(fmt.Sprintf("boilerwatch/v1/plant-a/gw-%d/telemetry", i), []byte(fmt.Sprintf(`{"n":%d}`, i)), time.Now())
	l.Site, l.Gateway = "plant-a", fmt.Sprintf("gw-%d", i)
	l.Problems = []Problem{{Reason: ReasonFuture, Device: "d", Detail: "x"}}
	return l
}

func TestDeadLettersRoundTrip(t *testing.T) {
	t.Parallel()
	d, err := OpenDeadLetters(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	bin := newLetter("t", []byte{0xff, 0x00, 'x'}, time.Now())
	if err := d.Append([]*Letter{letter(1), letter(2), bin}); err != nil {
		t.Fatal(err)
	}
	// A line torn by a crash mid-append is skipped; what follows is read.
	files, _ := d.files()
	f, _ := os.OpenFile(files[0], os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"at":"2026-`)
	f.WriteString("\n")
	f.Close()
	if err := d.Append([]*Letter{letter(3)}); err != nil {
		t.Fatal(err)
	}
	got, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d letters, want 4", len(got))
	}
	if string(got[0].Payload()) != `{"n":1}` || string(got[2].Payload()) != "\xff\x00x" || got[3].Gateway != "gw-3" {
		t.Errorf("payloads: %q %q, gateway %q", got[0].Payload(), got[2].Payload(), got[3].Gateway)
	}
}

// TestDeadLettersBound: past max the oldest files go, counted; the file
// being written never does.
func TestDeadLettersBound(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := OpenDeadLetters(dir, 4096)
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return hour }
	for h := range 10 {
		hour = hour.Add(time.Hour)
		var ls []*Letter
		for i := range 10 {
			ls = append(ls, letter(h*10+i))
		}
		if err := d.Append(ls); err != nil {
			t.Fatal(err)
		}
	}
	var total int64
	files, _ := d.files()
	for _, f := range files {
		fi, _ := os.Stat(f)
		total += fi.Size()
	}
	if total > 4096 {
		t.Errorf("store holds %d bytes, bound 4096", total)
	}
	left, _ := d.List()
	if dropped := d.Dropped.Load(); dropped == 0 || int(dropped)+len(left) != 100 {
		t.Errorf("dropped %d + left %d, want 100 in all and some dropped", dropped, len(left))
	}
	if !strings.HasSuffix(files[len(files)-1], "2026120310"+letterExt) {
		t.Errorf("newest file %s gone", files[len(files)-1])
	}
}

// TestDeadLettersTakeWhileAppending: a reingest taking the files while the
// collector appends loses no letter and takes none twice.
func TestDeadLettersTakeWhileAppending(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, _ := OpenDeadLetters(dir, 1<<30)
	r, _ := OpenDeadLetters(dir, 1<<30)
	const n = 2000
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			if err := w.Append([]*Letter{letter(i)}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	seen := map[string]int{}
	collect := func() {
		claimed, ls, err := r.take()
		if err != nil {
			t.Error(err)
		}
		for _, l := range ls {
			seen[l.Gateway]++
		}
		for _, f := range claimed {
			os.Remove(f)
		}
	}
	for range 50 {
		collect()
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	collect()
	if len(seen) != n {
		t.Errorf("%d distinct letters taken, want %d", len(seen), n)
	}
	for g, c := range seen {
		if c != 1 {
			t.Errorf("%s taken %d times", g, c)
		}
	}
	if rest, _ := filepath.Glob(filepath.Join(dir, "*")); len(rest) != 0 {
		t.Errorf("left in the store: %v", rest)
	}
}
