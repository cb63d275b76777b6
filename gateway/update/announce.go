package update

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/publish"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Link is a connection to the broker; *publish.Link is one.
type Link interface {
	Subscribe(topic string, qos byte, h func(payload []byte, retained bool)) error
	PublishOn(topic string, qos byte, retained bool, payload []byte) publish.Completion
}

// Announcements listens for signed releases on the gateway's and the
// site's update topics and installs them, reporting on update/ack.
type announced struct {
	payload  []byte
	retained bool // redelivered because we subscribed, not announced just now
}

type Announcements struct {
	u              *Updater
	site, gateway  string
	healthy        func() bool
	trial          *Trial
	in             chan announced
	links          chan Link
	link           Link
	unsent         []telemetry.UpdateAck
	answered       map[[32]byte]bool
	retryAfter     time.Duration
	progressEvery  time.Duration
	ackTimeout     time.Duration
	lastProgressAt time.Time
}

// Listen returns the announcement handler of u for site/gateway. tr is
// what Boot returned: while on trial, healthy (connected and polling)
// ends the trial, and its deadline rolls back.
func (u *Updater) Listen(site, gateway string, tr *Trial, healthy func() bool) *Announcements {
	return &Announcements{u: u, site: site, gateway: gateway, healthy: healthy, trial: tr,
		in: make(chan announced, 4), links: make(chan Link, 1), answered: map[[32]byte]bool{},
		retryAfter: 10 * time.Second, progressEvery: 5 * time.Second, ackTimeout: 10 * time.Second}
}

// OnConnect subscribes to both update topics on each new connection (the
// retained release arrives at once) and hands the link to Run for acks.
func (a *Announcements) OnConnect(l Link) error {
	// The link before the subscriptions, so Run has it before their
	// retained messages.
	select {
	case <-a.links: // an older link Run has not taken yet
	default:
	}
	a.links <- l
	h := func(payload []byte, retained bool) {
		// Never block paho's receive goroutine.
		select {
		case a.in <- announced{payload, retained}:
		default:
			a.u.log.Warn("release announcement dropped: the previous one is still being handled")
		}
	}
	for _, topic := range []string{telemetry.UpdateTopic(a.site, a.gateway), telemetry.SiteUpdateTopic(a.site)} {
		if err := l.Subscribe(topic, 1, h); err != nil {
			return fmt.Errorf("update: subscribe %s: %w", topic, err)
		}
	}
	return nil
}

// Run handles announcements until ctx ends. It returns ErrRestart when the
// binary was switched or rolled back: the gateway must exit with
// ExitRestart.
func (a *Announcements) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var retry <-chan time.Time
	var pending *announced // the release whose install failed, retried
	for {
		// A new connection first: what waited for one goes out before
		// anything newer.
		select {
		case l := <-a.links:
			a.link = l
			a.connected()
		default:
		}
		// The tick only while a release is on trial: a channel timer
		// nobody waits on does not fire, so an idle gateway is not woken
		// every second for nothing.
		var trialTick <-chan time.Time
		if a.trial != nil {
			trialTick = tick.C
		}
		select {
		case <-ctx.Done():
			return nil
		case l := <-a.links:
			a.link = l
			a.connected()
		case p := <-a.in:
			pending = nil
			if err := a.handle(ctx, p); err != nil {
				if errors.Is(err, ErrRestart) {
					return err
				}
				pending, retry = &p, time.After(a.retryAfter)
			}
		case <-retry:
			if pending != nil {
				p := *pending
				pending = nil
				if err := a.handle(ctx, p); err != nil {
					if errors.Is(err, ErrRestart) {
						return err
					}
					pending, retry = &p, time.After(a.retryAfter)
				}
			}
		case <-trialTick:
			if err := a.checkTrial(); err != nil {
				return err
			}
		}
	}
}

// connected sends what found no connection: acks, and the report of a
// rollback the previous process made.
func (a *Announcements) connected() {
	unsent := a.unsent
	a.unsent = nil
	if v, why, at, ok := a.u.unreportedRollback(); ok {
		unsent = append(unsent, telemetry.UpdateAck{V: telemetry.Version, Gateway: a.gateway, Release: v, Running: a.u.o.Running,
			Status: telemetry.UpdateRolledBack, Reason: why, TS: at.UnixMilli()})
		if err := a.u.markRollbackReported(); err != nil {
			a.u.log.Warn("update state not saved", "error", err)
		}
	}
	for _, ack := range unsent {
		a.send(ack)
	}
}

func (a *Announcements) checkTrial() error {
	if a.trial == nil {
		return nil
	}
	if a.healthy() {
		if err := a.u.Healthy(); err != nil {
			a.u.log.Error("trial not ended", "error", err)
			return nil
		}
		a.ack(a.trial.Version, telemetry.UpdateUpdated, "", 0, 0)
		a.trial = nil
		return nil
	}
	return a.u.CheckDeadline(a.trial)
}

// handle verifies and installs one announcement.
func (a *Announcements) handle(ctx context.Context, p announced) error {
	payload := p.payload
	if len(payload) == 0 {
		return nil // the retained announcement was cleared
	}
	r, err := a.u.Verify(payload)
	if err != nil {
		// The retained release in force, an older one, or one rolled back
		// (reported then): history, no ack. Announced live, the operator
		// waits for an answer.
		if p.retained && (errors.Is(err, fwconfig.ErrDowngrade) || errors.Is(err, ErrRolledBack)) {
			return nil
		}
		// Answered once per payload per process: the broker redelivers
		// the retained one at each connect.
		sum := sha256.Sum256(payload)
		if a.answered[sum] {
			return nil
		}
		a.answered[sum] = true
		release := ""
		if r != nil {
			release = clip(r.Version)
		}
		a.u.log.Warn("release rejected", "release", release, "reason", err)
		a.ack(release, telemetry.UpdateRejected, err.Error(), 0, 0)
		return nil
	}
	if a.trial != nil {
		// Not while this binary proves itself: it would be the one kept.
		return errors.New("on trial")
	}
	a.u.log.Info("installing release", "release", r.Version, "size", r.Size)
	a.lastProgressAt = time.Time{}
	err = a.u.Install(ctx, r, func(done int64) {
		if now := a.u.o.Now(); now.Sub(a.lastProgressAt) >= a.progressEvery || done == r.Size {
			a.lastProgressAt = now
			a.ack(r.Version, telemetry.UpdateDownloading, "", done, r.Size)
		}
	})
	switch {
	case errors.Is(err, ErrRestart):
		a.ack(r.Version, telemetry.UpdateSwitching, "", r.Size, r.Size)
		return err
	case err != nil:
		a.u.log.Warn("release not installed; retried", "release", r.Version, "error", err, "retry_in", a.retryAfter)
		a.ack(r.Version, telemetry.UpdateFailed, err.Error(), 0, r.Size)
		return err
	}
	return nil
}

func (a *Announcements) ack(release, status, reason string, done, total int64) {
	a.send(telemetry.UpdateAck{V: telemetry.Version, Gateway: a.gateway, Release: release, Running: a.u.o.Running,
		Status: status, Reason: clip(reason), Done: done, Total: total, TS: a.u.o.Now().UnixMilli()})
}

// send publishes on update/ack at QoS 1; without a connection the ack
// waits for the next one (progress reports are not kept: they are stale
// by then).
func (a *Announcements) send(ack telemetry.UpdateAck) {
	if a.link != nil {
		payload, _ := json.Marshal(ack)
		tok := a.link.PublishOn(telemetry.UpdateAckTopic(a.site, a.gateway), 1, false, payload)
		select {
		case <-tok.Done():
			if tok.Error() == nil {
				return
			}
		case <-time.After(a.ackTimeout):
		}
	}
	if ack.Status != telemetry.UpdateDownloading {
		a.unsent = append(a.unsent, ack)
	}
}

// clip keeps a reason within the ack schema's bound.
func clip(s string) string {
	if len(s) > 1000 {
		return s[:1000] + "…"
	}
	return s
}
