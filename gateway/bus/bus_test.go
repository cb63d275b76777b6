package bus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/simulator/mbserver"
	"github.com/boilerwatch/boilerwatch/simulator/mbserver/mbservertest"
)

var quiet = slog.New(slog.DiscardHandler)

// newFaultServer serves, with framing, a pattern bank (holding register i
// holds 1000+i, so every answer shows which request it belongs to) as
// units 1 and 2; its Fault queue replaces the next answers.
func newFaultServer(t *testing.T, framing mbservertest.Framing) *mbservertest.Server {
	t.Helper()
	return mbservertest.Start(t, mbservertest.Options{Framing: framing, Devices: mbservertest.Units(mbservertest.PatternBank(), 1, 2)})
}

// startBus runs a bus until the test ends.
func startBus(t *testing.T, cfg fwconfig.Bus, timeout time.Duration) *Bus {
	t.Helper()
	b, err := New(Options{Bus: cfg, Timeout: timeout, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { b.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return b
}

func wantRegs(start, count int) string {
	var b strings.Builder
	for i := range count {
		fmt.Fprintf(&b, "%d ", 1000+start+i)
	}
	return b.String()
}

func regsString(w []uint16) string {
	var b strings.Builder
	for _, v := range w {
		fmt.Fprintf(&b, "%d ", v)
	}
	return b.String()
}

// mbapFault rewrites of an MBAP answer (header 7 bytes, then function code,
// byte count, data).
var mbapFaults = []struct {
	name string
	act  mbserver.Action
	// errHas is part of the precise error the failed read must return.
	errHas string
	// reconnect: the fault must cost the connection.
	reconnect bool
	// times the fault is served (0: once).
	times int
}{
	{"no answer (timeout)", mbserver.Action{Drop: true}, "no reply within the timeout", true, 0},
	{"wrong transaction id", mbserver.Action{Rewrite: func(adu []byte) []byte {
		binary.BigEndian.PutUint16(adu, binary.BigEndian.Uint16(adu)+7)
		return adu
	}}, "transaction id", true, 0},
	{"garbled header", mbserver.Action{Rewrite: func(adu []byte) []byte {
		for i := range adu {
			adu[i] ^= 0x5A
		}
		return adu
	}}, "malformed reply frame", true, 0},
	{"garbled function code", mbserver.Action{Rewrite: func(adu []byte) []byte {
		adu[7] = 0x2B
		return adu
	}}, "reply function code 0x2B to a request with 0x03", true, 0},
	{"short frame (length promises more)", mbserver.Action{Rewrite: func(adu []byte) []byte {
		return adu[:len(adu)-3]
	}}, "read MBAP body", true, 0},
	{"short frame (consistent header)", mbserver.Action{Rewrite: func(adu []byte) []byte {
		adu = adu[:len(adu)-2]
		binary.BigEndian.PutUint16(adu[4:], uint16(len(adu)-6))
		return adu
	}}, "does not match count", true, 0},
	{"wrong byte count", mbserver.Action{Rewrite: func(adu []byte) []byte {
		adu = adu[:len(adu)-2]
		adu[8] -= 2
		binary.BigEndian.PutUint16(adu[4:], uint16(len(adu)-6))
		return adu
	}}, "reply byte count does not match", true, 0},
	// Twice: a reused connection closed before any byte of the reply is
	// taken for one the device closed while idle, and the read is sent
	// once more on a new connection (TestTCPClosedOnceResent).
	{"connection reset", mbserver.Action{Drop: true, Close: true}, "EOF", true, 2},
	{"exception 2", mbserver.Action{Exception: 2}, "exception '2'", false, 0},
	{"late reply after the timeout", mbserver.Action{Delay: 300 * time.Millisecond}, "no reply within the timeout", true, 0},
}

// Each fault fails exactly the read it hits, with a precise error; the
// next read gets its own, correct answer.
func TestTCPFaults(t *testing.T) {
	t.Parallel()
	for _, tt := range mbapFaults {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := newFaultServer(t, mbservertest.TCP)
			b := startBus(t, fwconfig.Bus{Transport: fwconfig.TCP, Address: fs.Addr}, 150*time.Millisecond)
			acts := []mbserver.Action{tt.act}
			for len(acts) < tt.times {
				acts = append(acts, tt.act)
			}
			checkFault(t, b, fs, acts, tt.errHas, tt.reconnect)
		})
	}
}

func checkFault(t *testing.T, b *Bus, fs *mbservertest.Server, acts []mbserver.Action, errHas string, reconnect bool) {
	t.Helper()
	ctx := context.Background()
	// A first good read opens the connection.
	if w, _, err := b.Read(ctx, 1, profile.Holding, 0, 4, 0); err != nil || regsString(w) != wantRegs(0, 4) {
		t.Fatalf("first read: %v %v", w, err)
	}
	before := b.Stats()
	fs.Fault(acts...)
	_, _, err := b.Read(ctx, 1, profile.Holding, 10, 5, 0)
	if err == nil || !strings.Contains(err.Error(), errHas) {
		t.Fatalf("faulty read: err %v, want one containing %q", err, errHas)
	}
	// The error names the bus, unit and registers.
	if want := fmt.Sprintf("unit 1 holding 10+5"); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}
	// The next reads, on another unit and another range, get their own answers.
	for i, r := range []struct {
		unit  byte
		start int
	}{{2, 20}, {1, 30}} {
		w, _, err := b.Read(ctx, r.unit, profile.Holding, r.start, 3, 0)
		if err != nil || regsString(w) != wantRegs(r.start, 3) {
			t.Fatalf("read %d after the fault: %v, %v; want %s", i, regsString(w), err, wantRegs(r.start, 3))
		}
	}
	after := b.Stats()
	if reconnected := after.Connects > before.Connects; reconnected != reconnect {
		t.Errorf("reconnected = %v, want %v (stats %+v)", reconnected, reconnect, after)
	}
	if after.Errors != before.Errors+1 {
		t.Errorf("errors %d -> %d, want one more", before.Errors, after.Errors)
	}
}

// A refused connection fails fast and precisely; once the device listens
// again, the next read works without any intervention.
func TestTCPRefusedThenBack(t *testing.T) {
	t.Parallel()
	fs := newFaultServer(t, mbservertest.TCP)
	b := startBus(t, fwconfig.Bus{Transport: fwconfig.TCP, Address: fs.Addr}, 500*time.Millisecond)
	ctx := context.Background()
	if _, _, err := b.Read(ctx, 1, profile.Holding, 0, 1, 0); err != nil {
		t.Fatal(err)
	}
	fs.Stop()
	start := time.Now()
	_, _, err := b.Read(ctx, 1, profile.Holding, 0, 1, 0)
	if err == nil || !strings.Contains(err.Error(), "cannot connect") || !NoAnswer(err) {
		t.Fatalf("read with the listener closed: %v", err)
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("refused connection took %s", d)
	}
	fs.Restart()
	if w, _, err := b.Read(ctx, 1, profile.Holding, 5, 2, 0); err != nil || regsString(w) != wantRegs(5, 2) {
		t.Fatalf("read after the device came back: %v %v", w, err)
	}
}

// A device that closed an idle connection costs no request: the read
// fails before any byte of its reply and is sent again on a new connection.
func TestTCPPeerClosedBetweenRequests(t *testing.T) {
	t.Parallel()
	fs := newFaultServer(t, mbservertest.TCP)
	b := startBus(t, fwconfig.Bus{Transport: fwconfig.TCP, Address: fs.Addr}, 500*time.Millisecond)
	ctx := context.Background()
	fs.Fault(mbserver.Action{Close: true}) // answers, then closes
	if _, _, err := b.Read(ctx, 1, profile.Holding, 0, 1, 0); err != nil {
		t.Fatal(err)
	}
	fs.WaitClosed(1) // the FIN is in the bus's socket
	if w, _, err := b.Read(ctx, 1, profile.Holding, 7, 1, 0); err != nil || regsString(w) != wantRegs(7, 1) {
		t.Fatalf("read after the device closed: %v %v", w, err)
	}
	if s := b.Stats(); s.Connects != 2 || s.Errors != 0 {
		t.Errorf("stats %+v, want 2 connects and no error", s)
	}
}

// Coils come back as 0/1 words.
func TestReadBits(t *testing.T) {
	t.Parallel()
	fs := newFaultServer(t, mbservertest.TCP)
	b := startBus(t, fwconfig.Bus{Transport: fwconfig.TCP, Address: fs.Addr}, time.Second)
	w, _, err := b.Read(context.Background(), 1, profile.Coil, 0, 3, 0)
	if err != nil || fmt.Sprint(w) != "[1 0 1]" {
		t.Fatalf("coils: %v %v", w, err)
	}
}

// Gaps: a pause between requests, a longer one when the unit changes, and
// a pause after connecting.
func TestGaps(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var at []time.Time
	srv := mbservertest.Start(t, mbservertest.Options{
		Devices: mbservertest.Units(mbservertest.PatternBank(), 1, 2),
		Hook: func(mbserver.Request) mbserver.Action {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			return mbserver.Action{}
		},
	})
	b := startBus(t, fwconfig.Bus{Transport: fwconfig.TCP, Address: srv.Addr,
		RequestGap: 30 * time.Millisecond, UnitGap: 120 * time.Millisecond, ConnectPause: 100 * time.Millisecond}, time.Second)
	t0 := time.Now()
	for _, unit := range []byte{1, 1, 2} {
		if _, _, err := b.Read(context.Background(), unit, profile.Holding, 0, 1, 0); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 3 {
		t.Fatalf("%d requests seen", len(at))
	}
	checks := []struct {
		what string
		got  time.Duration
		min  time.Duration
	}{
		{"pause after connect", at[0].Sub(t0), 100 * time.Millisecond},
		{"gap between requests", at[1].Sub(at[0]), 30 * time.Millisecond},
		{"gap when the unit changes", at[2].Sub(at[1]), 120 * time.Millisecond},
	}
	for _, c := range checks {
		if c.got < c.min {
			t.Errorf("%s: %s, want at least %s", c.what, c.got, c.min)
		}
	}
}

// A cancelled context ends a read promptly, and Run stops.
func TestCancel(t *testing.T) {
	t.Parallel()
	fs := newFaultServer(t, mbservertest.TCP)
	b := startBus(t, fwconfig.Bus{Transport: fwconfig.TCP, Address: fs.Addr}, 5*time.Second)
	fs.Fault(mbserver.Action{Drop: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := b.Read(ctx, 1, profile.Holding, 0, 1, 0)
	if err == nil || time.Since(start) > time.Second {
		t.Fatalf("read under a 100 ms context: %v after %s", err, time.Since(start))
	}
	if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "timeout") {
		t.Errorf("error %v does not say it timed out", err)
	}
}

// A device that answers twice leaves a stale frame: in the same write as
// the answer (dropped after it) or 100 ms later, while the next request
// waits behind it on the device (a reply to an earlier request by its
// transaction id, skipped). Either way the next request gets its own
// answer, on the same connection, without an error.
func TestStaleReplySkipped(t *testing.T) {
	t.Parallel()
	twice := func(adu []byte) []byte { return append(adu, adu...) }
	for _, tt := range []struct {
		name string
		act  mbserver.Action
	}{
		{"in the same write", mbserver.Action{Rewrite: twice}},
		{"100 ms later", mbserver.Action{Rewrite: twice, Split: 2, SplitGap: 100 * time.Millisecond}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := newFaultServer(t, mbservertest.TCP)
			b := startBus(t, fwconfig.Bus{Transport: fwconfig.TCP, Address: fs.Addr}, time.Second)
			ctx := context.Background()
			fs.Fault(tt.act)
			if w, _, err := b.Read(ctx, 1, profile.Holding, 0, 2, 0); err != nil || regsString(w) != wantRegs(0, 2) {
				t.Fatalf("read answered twice: %v %v", w, err)
			}
			if w, _, err := b.Read(ctx, 1, profile.Holding, 40, 2, 0); err != nil || regsString(w) != wantRegs(40, 2) {
				t.Fatalf("read after a duplicate answer: %v %v", w, err)
			}
			if s := b.Stats(); s.Stale != 13 || s.Connects != 1 || s.Errors != 0 {
				t.Errorf("stats %+v, want the 13 bytes of the duplicate skipped on one connection, no error", s)
			}
		})
	}
}

// A reused connection that the device closes instead of answering is taken
// for an idle close: the read is sent once more on a new connection, and
// answered there costs no error.
func TestTCPClosedOnceResent(t *testing.T) {
	t.Parallel()
	fs := newFaultServer(t, mbservertest.TCP)
	b := startBus(t, fwconfig.Bus{Transport: fwconfig.TCP, Address: fs.Addr}, 500*time.Millisecond)
	ctx := context.Background()
	if _, _, err := b.Read(ctx, 1, profile.Holding, 0, 1, 0); err != nil {
		t.Fatal(err)
	}
	for _, act := range []mbserver.Action{{Drop: true, Close: true}, {Drop: true, Reset: true}} {
		before := b.Stats()
		fs.Fault(act)
		if w, _, err := b.Read(ctx, 2, profile.Holding, 9, 2, 0); err != nil || regsString(w) != wantRegs(9, 2) {
			t.Fatalf("%+v: read: %v %v", act, w, err)
		}
		if s := b.Stats(); s.Connects != before.Connects+1 || s.Errors != before.Errors || s.Requests != before.Requests+1 {
			t.Errorf("%+v: stats %+v after %+v, want one more connect and request, no error", act, s, before)
		}
	}
}
