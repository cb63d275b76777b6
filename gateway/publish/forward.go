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
			f.newSession(l).run(ctx)
		}
	}
}

type flight struct {
	seq        uint64
	tok        Completion
	historical bool
	sent       time.Time
}

// session is the forwarding over one connection, until it is lost or ctx
// ends.
//
// What the queue held when the connection came up is the backlog: it is
// sent in order, marked historical, at most ReplayRate per second. Records
// appended since are live. The two alternate, so a day of backlog neither
// delays live data nor waits for it. Nothing new is sent while no collector
// listens. A failed publish ends the session: the next connection starts
// again from the oldest unacknowledged record, so order within the backlog
// holds and nothing is skipped.
type session struct {
	f        *Forwarder
	q        *queue.Queue
	l        Sender
	interval time.Duration // between backlog sends (ReplayRate); 0: unpaced

	// The replay started last (startReplay): records up to boundary are
	// backlog, read by backlog; those above it are live.
	boundary      uint64
	backlog, live *queue.Reader
	backlogDone   bool
	start         time.Time // when the replay started
	replayed      int       // backlog records sent since
	nextBacklog   time.Time // pacing: earliest time of the next backlog send

	inflight   []flight // publishes waiting for their PUBACK, in send order
	preferLive bool     // the next send tries live before backlog
	holding    bool     // no collector listening: nothing new is sent
}

func (f *Forwarder) newSession(l Sender) *session {
	s := &session{f: f, q: f.q, l: l, preferLive: true}
	if f.o.ReplayRate > 0 {
		s.interval = time.Duration(float64(time.Second) / f.o.ReplayRate)
	}
	return s
}

// run forwards until the connection is lost, a publish fails or is
// overdue, or ctx ends.
func (s *session) run(ctx context.Context) {
	s.startReplay()
	defer s.closeReaders()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if s.checkListening() {
			s.fillWindow()
		}
		// Wake for the oldest PUBACK, its deadline, new records, or the
		// next backlog slot.
		var head <-chan struct{}
		if len(s.inflight) > 0 {
			head = s.inflight[0].tok.Done()
		}
		timer.Reset(s.wakeIn())
		select {
		case <-ctx.Done():
			return
		case <-s.l.Lost():
			s.f.abandon(s.inflight)
			return
		case <-s.q.Notify():
		case <-timer.C:
			if s.overdue() {
				return
			}
		case <-head:
			if !s.settle() {
				return
			}
		}
	}
}

// startReplay takes what the queue holds now as the backlog: at the start
// of the session, and when a collector is heard again after none was (then
// the records that waited are backlog too, paced).
func (s *session) startReplay() {
	s.closeReaders()
	s.boundary = s.q.LastSeq()
	first := s.q.FirstPending()
	s.backlog, s.live = s.q.NewReader(first), s.q.NewReader(s.boundary+1)
	s.backlogDone = first > s.boundary
	s.start, s.replayed, s.nextBacklog = time.Now(), 0, time.Now()
	if !s.backlogDone {
		s.f.log.Info("replaying backlog", "records", s.q.Stats().Pending, "from", first, "to", s.boundary, "replay_rate", s.f.o.ReplayRate)
	}
}

func (s *session) closeReaders() {
	if s.backlog != nil {
		s.backlog.Close()
		s.live.Close()
	}
}

// checkListening reports whether a collector listens, and logs when that
// changes; when one is heard again with nothing in flight, the records
// that waited are replayed as backlog.
func (s *session) checkListening() bool {
	listening := s.l.Listening()
	switch {
	case !listening && !s.holding:
		s.f.log.Warn("no collector listening: records stay queued", "pending", s.q.Stats().Pending)
	case listening && s.holding:
		s.f.log.Info("collector listening: forwarding")
		if len(s.inflight) == 0 {
			s.startReplay()
		}
	}
	s.holding = !listening
	return listening
}

// fillWindow sends records until the window is full or none is ready,
// alternating live and backlog while both have one.
func (s *session) fillWindow() {
	for len(s.inflight) < s.f.o.Window {
		var sent bool
		if s.preferLive {
			sent = s.sendLive()
			s.preferLive = !sent
			if !sent {
				sent = s.sendBacklog()
			}
		} else {
			sent = s.sendBacklog()
			s.preferLive = sent
			if !sent {
				sent = s.sendLive()
			}
		}
		if !sent {
			return
		}
	}
}

// sendLive publishes the next live record, if there is one.
func (s *session) sendLive() bool {
	rec, ok, err := s.live.Next(^uint64(0))
	if err != nil {
		s.f.log.Error("reading queue", "error", err)
		return false
	}
	if !ok {
		return false
	}
	s.inflight = append(s.inflight, flight{rec.Seq, s.l.Publish(rec.Payload), false, time.Now()})
	return true
}

// sendBacklog publishes the next backlog record, marked historical, if
// there is one and its pacing slot has come.
func (s *session) sendBacklog() bool {
	if s.backlogDone || time.Now().Before(s.nextBacklog) {
		return false
	}
	rec, ok, err := s.backlog.Next(s.boundary)
	if err != nil {
		s.f.log.Error("reading queue", "error", err)
		return false
	}
	if !ok {
		s.finishReplay()
		return false
	}
	s.inflight = append(s.inflight, flight{rec.Seq, s.l.Publish(historical(rec.Payload)), true, time.Now()})
	s.replayed++
	if s.interval > 0 {
		// A bucket of one second: a pause (a slow PUBACK) may be made
		// up, but never by more than a second's worth.
		if floor := time.Now().Add(-time.Second); s.nextBacklog.Before(floor) {
			s.nextBacklog = floor
		}
		s.nextBacklog = s.nextBacklog.Add(s.interval)
	}
	return true
}

// finishReplay records that the backlog was all sent, and at what rate.
func (s *session) finishReplay() {
	s.backlogDone = true
	d := time.Since(s.start)
	rate := float64(s.replayed) / max(d.Seconds(), 1e-3)
	s.f.Stats.ReplayRate.Store(uint64(rate * 1000))
	s.f.log.Info("backlog replayed", "records", s.replayed, "duration", d.Round(time.Millisecond), "rate_per_s", int(rate))
}

// wakeIn is how long the session may wait at most: until the oldest
// publish is overdue, the next backlog slot, or a look for a collector's
// heartbeat while none listens.
func (s *session) wakeIn() time.Duration {
	wake := time.Hour
	if len(s.inflight) > 0 {
		wake = time.Until(s.inflight[0].sent.Add(s.f.o.AckTimeout))
	}
	if !s.backlogDone && len(s.inflight) < s.f.o.Window {
		wake = min(wake, time.Until(s.nextBacklog))
	}
	if s.holding {
		wake = min(wake, 250*time.Millisecond)
	}
	return max(wake, time.Millisecond)
}

// overdue ends the connection if the oldest publish waited AckTimeout for
// its PUBACK: the next one sends it again.
func (s *session) overdue() bool {
	if len(s.inflight) == 0 || time.Since(s.inflight[0].sent) < s.f.o.AckTimeout {
		return false
	}
	s.f.log.Warn("PUBACK overdue: reconnecting", "seq", s.inflight[0].seq, "waited", s.f.o.AckTimeout)
	s.f.abandon(s.inflight)
	s.l.Close()
	return true
}

// settle acknowledges, in order, every publish that has completed; false
// if one failed, which ends the connection.
func (s *session) settle() bool {
	for len(s.inflight) > 0 {
		fl := s.inflight[0]
		if !isDone(fl.tok) {
			break
		}
		s.inflight = s.inflight[1:]
		if err := fl.tok.Error(); err != nil {
			s.f.log.Warn("publish failed; the record stays queued", "seq", fl.seq, "error", err)
			s.f.Stats.Failed.Add(1)
			s.f.abandon(s.inflight)
			s.l.Close()
			return false
		}
		s.q.Ack(fl.seq)
		if s.f.o.OnAck != nil {
			s.f.o.OnAck(time.Since(fl.sent), fl.historical)
		}
		if fl.historical {
			s.f.Stats.Historical.Add(1)
		} else {
			s.f.Stats.Live.Add(1)
		}
		s.f.log.Debug("published", "seq", fl.seq, "historical", fl.historical)
	}
	return true
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
