package publish

import (
	"bytes"
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/boilerwatch/boilerwatch/gateway/queue"
)

// Completion is a publish in flight: Done is closed on the broker's PUBACK
// (Error nil) or on failure. paho's tokens are Completions.
type Completion interface {
	Done() <-chan struct{}
	Error() error
}

// Sender is one broker connection as the forwarder uses it; *Link is one.
type Sender interface {
	Publish(payload []byte) Completion
	Lost() <-chan struct{}
	Close()
	// Listening reports whether a collector is there to receive; the
	// forwarder sends nothing new while it is not.
	Listening() bool
}

// ForwardOptions tune the forwarder.
type ForwardOptions struct {
	// ReplayRate bounds backlog messages per second; 0 is unbounded.
	ReplayRate float64
	// Window is how many publishes may wait for their PUBACK at once; it
	// keeps a high-latency link (4G) busy. Default 256.
	Window int
	// AckTimeout: a PUBACK later than this ends the connection, and a new
	// one sends the record again. Default 30 s.
	AckTimeout time.Duration
	// OnAck, if set, is called with each acknowledged publish's time from
	// send to PUBACK (as seen when the forwarder settles it, in order), for
	// the publish latency histogram.
	OnAck  func(took time.Duration, historical bool)
	Logger *slog.Logger
}

// ForwardStats count what the forwarder did since it started.
type ForwardStats struct {
	Live       atomic.Uint64 // live messages acknowledged by the broker
	Historical atomic.Uint64 // backlog messages acknowledged by the broker
	Failed     atomic.Uint64 // publishes that failed (sent again later)
	// ReplayRate is the rate of the last backlog replay, messages/s × 1000.
	ReplayRate atomic.Uint64
}

// Forwarder moves records from the queue to the broker.
type Forwarder struct {
	q     *queue.Queue
	o     ForwardOptions
	log   *slog.Logger
	Stats ForwardStats
}

// NewForwarder prepares a forwarder for q.
func NewForwarder(q *queue.Queue, o ForwardOptions) *Forwarder {
	if o.Window <= 0 {
		o.Window = 256
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Forwarder{q: q, o: o, log: o.Logger.With("component", "forward")}
}

// Run forwards over each connection received from links until ctx ends.
func (f *Forwarder) Run(ctx context.Context, links <-chan Sender) {
	for {
		select {
		case <-ctx.Done():
			return
		case l := <-links:
			f.session(ctx, l)
		}
	}
}

type flight struct {
	seq        uint64
	tok        Completion
	historical bool
	sent       time.Time
}

// session forwards over one connection until it is lost or ctx ends.
//
// What the queue held when the connection came up is the backlog: it is
// sent in order, marked historical, at most ReplayRate per second. Records
// appended since are live. Nothing new is sent while no collector listens. The two alternate, so a day of backlog neither
// delays live data nor waits for it. A failed publish ends the session: the
// next connection starts again from the oldest unacknowledged record, so
// order within the backlog holds and nothing is skipped.
func (f *Forwarder) session(ctx context.Context, l Sender) {
	q := f.q
	var interval time.Duration
	if f.o.ReplayRate > 0 {
		interval = time.Duration(float64(time.Second) / f.o.ReplayRate)
	}
	var (
		boundary      uint64
		backlog, live *queue.Reader
		backlogDone   bool
		start         time.Time
		replayed      int
		nextBacklog   time.Time // pacing: earliest time of the next backlog send
	)
	// startReplay takes what the queue holds now as the backlog: at the
	// start of the session, and when a collector is heard again after none
	// was (then the records that waited are backlog too, paced).
	startReplay := func() {
		if backlog != nil {
			backlog.Close()
			live.Close()
		}
		boundary = q.LastSeq()
		first := q.FirstPending()
		backlog, live = q.NewReader(first), q.NewReader(boundary+1)
		backlogDone = first > boundary
		start, replayed, nextBacklog = time.Now(), 0, time.Now()
		if !backlogDone {
			f.log.Info("replaying backlog", "records", q.Stats().Pending, "from", first, "to", boundary, "replay_rate", f.o.ReplayRate)
		}
	}
	startReplay()
	defer func() { backlog.Close(); live.Close() }()
	var inflight []flight
	preferLive := true

	sendLive := func() bool {
		rec, ok, err := live.Next(^uint64(0))
		if err != nil {
			f.log.Error("reading queue", "error", err)
			return false
		}
		if !ok {
			return false
		}
		inflight = append(inflight, flight{rec.Seq, l.Publish(rec.Payload), false, time.Now()})
		return true
	}
	sendBacklog := func() bool {
		if backlogDone || time.Now().Before(nextBacklog) {
			return false
		}
		rec, ok, err := backlog.Next(boundary)
		if err != nil {
			f.log.Error("reading queue", "error", err)
			return false
		}
		if !ok {
			backlogDone = true
			d := time.Since(start)
			rate := float64(replayed) / max(d.Seconds(), 1e-3)
			f.Stats.ReplayRate.Store(uint64(rate * 1000))
			f.log.Info("backlog replayed", "records", replayed, "duration", d.Round(time.Millisecond), "rate_per_s", int(rate))
			return false
		}
		inflight = append(inflight, flight{rec.Seq, l.Publish(historical(rec.Payload)), true, time.Now()})
		replayed++
		if interval > 0 {
			// A bucket of one second: a pause (a slow PUBACK) may be made
			// up, but never by more than a second's worth.
			if floor := time.Now().Add(-time.Second); nextBacklog.Before(floor) {
				nextBacklog = floor
			}
			nextBacklog = nextBacklog.Add(interval)
		}
		return true
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	holding := false
	for {
		listening := l.Listening()
		switch {
		case !listening && !holding:
			f.log.Warn("no collector listening: records stay queued", "pending", q.Stats().Pending)
		case listening && holding:
			f.log.Info("collector listening: forwarding")
			if len(inflight) == 0 {
				startReplay()
			}
		}
		holding = !listening
		for listening && len(inflight) < f.o.Window {
			var sent bool
			if preferLive {
				sent = sendLive()
				preferLive = !sent
				if !sent {
					sent = sendBacklog()
				}
			} else {
				sent = sendBacklog()
				preferLive = sent
				if !sent {
					sent = sendLive()
				}
			}
			if !sent {
				break
			}
		}
		// Wake for the oldest PUBACK, its deadline, new records, or the
		// next backlog slot.
		var head <-chan struct{}
		wake := time.Hour
		if len(inflight) > 0 {
			head = inflight[0].tok.Done()
			wake = time.Until(inflight[0].sent.Add(f.o.AckTimeout))
		}
		if !backlogDone && len(inflight) < f.o.Window {
			wake = min(wake, time.Until(nextBacklog))
		}
		if holding {
			wake = min(wake, 250*time.Millisecond) // look for a heartbeat
		}
		timer.Reset(max(wake, time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-l.Lost():
			f.abandon(inflight)
			return
		case <-q.Notify():
		case <-timer.C:
			if len(inflight) > 0 && time.Since(inflight[0].sent) >= f.o.AckTimeout {
				f.log.Warn("PUBACK overdue: reconnecting", "seq", inflight[0].seq, "waited", f.o.AckTimeout)
				f.abandon(inflight)
				l.Close()
				return
			}
		case <-head:
			// Settle every publish that has completed, in order.
			for len(inflight) > 0 {
				fl := inflight[0]
				if !isDone(fl.tok) {
					break
				}
				inflight = inflight[1:]
				if err := fl.tok.Error(); err != nil {
					f.log.Warn("publish failed; the record stays queued", "seq", fl.seq, "error", err)
					f.Stats.Failed.Add(1)
					f.abandon(inflight)
					l.Close()
					return
				}
				q.Ack(fl.seq)
				if f.o.OnAck != nil {
					f.o.OnAck(time.Since(fl.sent), fl.historical)
				}
				if fl.historical {
					f.Stats.Historical.Add(1)
				} else {
					f.Stats.Live.Add(1)
				}
				f.log.Debug("published", "seq", fl.seq, "historical", fl.historical)
			}
		}
	}
}

func isDone(c Completion) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// abandon gives up on publishes whose outcome is unknown: their records stay
// queued and are sent again on the next connection. A PUBACK that still
// arrives for one of them changes nothing — at least once, never lost.
func (f *Forwarder) abandon(inflight []flight) {
	if n := len(inflight); n > 0 {
		f.log.Info("unacknowledged publishes stay queued", "records", n, "first_seq", inflight[0].seq)
	}
}

// historical marks a stored payload as replayed: the stored form is the live
// message, a JSON object from encoding/json that begins with "{".
func historical(p []byte) []byte {
	rest, ok := bytes.CutPrefix(p, []byte("{"))
	if !ok || len(bytes.TrimSpace(rest)) < 2 {
		return p // not an object with members: nothing we stored
	}
	out := make([]byte, 0, len(p)+len(`"historical":true,`))
	out = append(out, `{"historical":true,`...)
	return append(out, rest...)
}
