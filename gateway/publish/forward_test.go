package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/boilerwatch/boilerwatch/gateway/queue"
)

type fakeTok struct {
	done chan struct{}
	err  error
}

func (t *fakeTok) Done() <-chan struct{} { return t.done }
func (t *fakeTok) Error() error          { return t.err }

type sent struct {
	Seq        uint64 `json:"seq"`
	Historical bool   `json:"historical"`
	at         time.Time
}

// fakeLink records what is published; answer decides each publish's fate
// (n counts publishes on this link from 0): nil acknowledges at once.
type fakeLink struct {
	answer func(n int) *fakeTok

	listening *atomic.Bool // nil: always

	mu     sync.Mutex
	sent   []sent
	lost   chan struct{}
	closed bool
}

func newFakeLink(answer func(int) *fakeTok) *fakeLink {
	return &fakeLink{answer: answer, lost: make(chan struct{})}
}

func (l *fakeLink) Publish(payload []byte) Completion {
	var m sent
	if err := json.Unmarshal(payload, &m); err != nil {
		panic(fmt.Sprintf("payload %q: %v", payload, err))
	}
	m.at = time.Now()
	l.mu.Lock()
	n := len(l.sent)
	l.sent = append(l.sent, m)
	l.mu.Unlock()
	if l.answer != nil {
		if t := l.answer(n); t != nil {
			return t
		}
	}
	t := &fakeTok{done: make(chan struct{})}
	close(t.done)
	return t
}

func (l *fakeLink) Lost() <-chan struct{} { return l.lost }

func (l *fakeLink) Listening() bool { return l.listening == nil || l.listening.Load() }

func (l *fakeLink) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.lost)
	}
}

func (l *fakeLink) published() []sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.sent)
}

func openQueue(t *testing.T) *queue.Queue {
	t.Helper()
	return openQueueWB(t, 0)
}

// openQueueWB opens a queue writing behind by wb (0: write-through).
func openQueueWB(t *testing.T, wb time.Duration) *queue.Queue {
	t.Helper()
	q, err := queue.Open(queue.Options{Dir: t.TempDir(), WriteBehind: wb, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func appendMsgs(t *testing.T, q *queue.Queue, n int) {
	t.Helper()
	for range n {
		_, err := q.Append(func(seq uint64) ([]byte, error) {
			return fmt.Appendf(nil, `{"v":1,"seq":%d,"samples":[]}`, seq), nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// runForwarder runs f until the test ends.
func runForwarder(t *testing.T, f *Forwarder) chan<- Sender {
	links := make(chan Sender)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx, links) }()
	t.Cleanup(func() { cancel(); <-done })
	return links
}

func waitPending(t *testing.T, q *queue.Queue, want uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for q.Stats().Pending != want {
		if time.Now().After(deadline) {
			t.Fatalf("pending %d, want %d", q.Stats().Pending, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHistoricalPayload(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`{"v":1,"seq":3}`, `{"historical":true,"v":1,"seq":3}`},
		{`{}`, `{}`},
		{`[1]`, `[1]`},
	}
	for _, tt := range tests {
		if got := string(historical([]byte(tt.in))); got != tt.want {
			t.Errorf("historical(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestBacklogAndLiveAlternate: after a reconnect the backlog goes out in
// order, marked historical, at the replay rate, while live records go out
// as soon as they are queued.
func TestBacklogAndLiveAlternate(t *testing.T) {
	t.Parallel()
	// Fake time: the replay rate is measured exactly, without real waits.
	synctest.Test(t, func(t *testing.T) {
		q := openQueue(t)
		appendMsgs(t, q, 100) // the backlog of an outage
		f := NewForwarder(q, ForwardOptions{ReplayRate: 200, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		links := runForwarder(t, f)
		l := newFakeLink(nil)
		start := time.Now()
		links <- l
		time.Sleep(100 * time.Millisecond)
		appendMsgs(t, q, 5) // live, polled during the replay
		waitPending(t, q, 0)
		elapsed := time.Since(start)

		got := l.published()
		var back, live []uint64
		var firstLive, lastBack time.Time
		for _, m := range got {
			if m.Historical {
				back = append(back, m.Seq)
				lastBack = m.at
			} else {
				live = append(live, m.Seq)
				if firstLive.IsZero() {
					firstLive = m.at
				}
			}
		}
		if len(back) != 100 || !slices.IsSorted(back) || back[0] != 1 {
			t.Errorf("backlog: %d messages %v", len(back), back)
		}
		if !slices.Equal(live, []uint64{101, 102, 103, 104, 105}) {
			t.Errorf("live: %v, want 101..105 not historical", live)
		}
		if !firstLive.Before(lastBack) {
			t.Error("live data waited for the backlog")
		}
		// 100 messages at 200/s, with a one-second bucket: 0.5 s at least,
		// not much more.
		if elapsed < 400*time.Millisecond || elapsed > 3*time.Second {
			t.Errorf("replay of 100 at 200/s took %s", elapsed)
		}
		if f.Stats.Historical.Load() != 100 || f.Stats.Live.Load() != 5 {
			t.Errorf("stats: %d historical, %d live", f.Stats.Historical.Load(), f.Stats.Live.Load())
		}
	})
}

// TestUnacknowledgedStaysQueued: whatever way a publish fails, its record is
// sent again on the next connection and nothing is skipped.
func TestUnacknowledgedStaysQueued(t *testing.T) {
	never := func() *fakeTok { return &fakeTok{done: make(chan struct{})} }
	failed := func() *fakeTok {
		t := &fakeTok{done: make(chan struct{}), err: errors.New("connection lost before Publish completed")}
		close(t.done)
		return t
	}
	tests := []struct {
		name   string
		answer func(l *fakeLink) func(n int) *fakeTok
	}{
		{"publish fails", func(*fakeLink) func(int) *fakeTok {
			return func(n int) *fakeTok {
				if n == 7 {
					return failed()
				}
				return nil
			}
		}},
		{"connection lost with publishes in flight", func(l *fakeLink) func(int) *fakeTok {
			return func(n int) *fakeTok {
				if n >= 7 {
					if n == 12 {
						go l.Close()
					}
					return never()
				}
				return nil
			}
		}},
		{"PUBACK never comes", func(*fakeLink) func(int) *fakeTok {
			return func(n int) *fakeTok {
				if n == 3 {
					return never()
				}
				return nil
			}
		}},
	}
	// Write-behind with a window of an hour: the records stay in memory
	// only, and the second connection must still find and send them.
	for _, tt := range tests {
		for _, wb := range []time.Duration{0, time.Hour} {
			t.Run(fmt.Sprintf("%s/write_behind=%s", tt.name, wb), func(t *testing.T) {
				// Fake time: the ack timeout costs no real wait.
				synctest.Test(t, func(t *testing.T) { testUnacknowledged(t, wb, tt.answer) })
			})
		}
	}
}

func testUnacknowledged(t *testing.T, wb time.Duration, answer func(l *fakeLink) func(n int) *fakeTok) {
	q := openQueueWB(t, wb)
	appendMsgs(t, q, 30)
	f := NewForwarder(q, ForwardOptions{AckTimeout: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	links := runForwarder(t, f)
	first := newFakeLink(nil)
	first.answer = answer(first)
	links <- first
	select {
	case <-first.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the failing link was not given up")
	}
	second := newFakeLink(nil)
	links <- second
	waitPending(t, q, 0)
	seen := map[uint64]bool{}
	for _, m := range slices.Concat(first.published(), second.published()) {
		seen[m.Seq] = true
	}
	for s := uint64(1); s <= 30; s++ {
		if !seen[s] {
			t.Errorf("seq %d never published", s)
		}
	}
	resent := second.published()
	if len(resent) == 0 || !resent[0].Historical || !slices.IsSortedFunc(resent, func(a, b sent) int { return int(a.Seq) - int(b.Seq) }) {
		t.Errorf("second connection: %v, want the rest in order, historical", resent)
	}
}

// TestHoldsWhileNoCollector: with nobody listening nothing is published;
// once a collector is heard, the records that waited go out as historical
// backlog.
func TestHoldsWhileNoCollector(t *testing.T) {
	t.Parallel()
	// Fake time: the 600 ms with nobody listening cost no real wait.
	synctest.Test(t, func(t *testing.T) {
		q := openQueue(t)
		f := NewForwarder(q, ForwardOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		links := runForwarder(t, f)
		l := newFakeLink(nil)
		l.listening = &atomic.Bool{}
		links <- l
		appendMsgs(t, q, 10)
		time.Sleep(600 * time.Millisecond)
		if n := len(l.published()); n != 0 {
			t.Fatalf("%d published with no collector listening", n)
		}
		l.listening.Store(true)
		waitPending(t, q, 0)
		got := l.published()
		if len(got) != 10 {
			t.Fatalf("%d published after the collector appeared, want 10", len(got))
		}
		for _, m := range got {
			if !m.Historical {
				t.Errorf("seq %d waited for a collector but is not marked historical", m.Seq)
			}
		}
	})
}
