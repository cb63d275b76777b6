package update

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/gateway/publish"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// fakeLink is a broker connection: it keeps the handlers subscribed and
// the acks published.
type fakeLink struct {
	mu   sync.Mutex
	subs map[string]func([]byte, bool)
	acks []telemetry.UpdateAck
}

type done struct{}

func (done) Done() <-chan struct{} { c := make(chan struct{}); close(c); return c }
func (done) Error() error          { return nil }

func (l *fakeLink) Subscribe(topic string, _ byte, h func([]byte, bool)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.subs == nil {
		l.subs = map[string]func([]byte, bool){}
	}
	l.subs[topic] = h
	return nil
}

func (l *fakeLink) PublishOn(topic string, _ byte, retained bool, payload []byte) publish.Completion {
	var a telemetry.UpdateAck
	if err := json.Unmarshal(payload, &a); err != nil || retained || topic != telemetry.UpdateAckTopic("plant-a", "gw-01") {
		panic("not an update ack: " + topic + " " + string(payload))
	}
	l.mu.Lock()
	l.acks = append(l.acks, a)
	l.mu.Unlock()
	return done{}
}

func (l *fakeLink) announce(topic string, payload []byte) {
	l.mu.Lock()
	h := l.subs[topic]
	l.mu.Unlock()
	h(payload, true)
}

// live is an announcement made while the gateway listens.
func (l *fakeLink) live(topic string, payload []byte) {
	l.mu.Lock()
	h := l.subs[topic]
	l.mu.Unlock()
	h(payload, false)
}

// statuses waits until the acks end with want, or fails.
func (l *fakeLink) statuses(t *testing.T, want ...string) []telemetry.UpdateAck {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		acks := append([]telemetry.UpdateAck(nil), l.acks...)
		l.mu.Unlock()
		var got []string
		for _, a := range acks {
			got = append(got, a.Status)
		}
		if len(got) >= len(want) && equal(got[len(got)-len(want):], want) {
			return acks
		}
		if time.Now().After(deadline) {
			t.Fatalf("acks %v, want them to end with %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// An announcement on the site topic is installed, reported as downloading
// then switching; the new binary reports updated once healthy; a wrong
// signature is rejected once however often the broker redelivers it.
func TestAnnouncements(t *testing.T) {
	g := newRig(t)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	forged := g.release("1.1.0", []byte("binary 1.1.0"), otherKey)
	payload := g.release("1.1.0", []byte("binary 1.1.0"), g.priv)
	link := &fakeLink{}
	a := g.updater("1.0.0").Listen("plant-a", "gw-01", nil, func() bool { return true })
	if err := a.OnConnect(link); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- a.Run(context.Background()) }()
	link.announce(telemetry.UpdateTopic("plant-a", "gw-01"), forged)
	link.statuses(t, telemetry.UpdateRejected)
	link.announce(telemetry.UpdateTopic("plant-a", "gw-01"), forged)
	link.announce(telemetry.SiteUpdateTopic("plant-a"), payload)
	acks := link.statuses(t, telemetry.UpdateRejected, telemetry.UpdateDownloading, telemetry.UpdateSwitching)
	if d := acks[len(acks)-2]; d.Done != d.Total || d.Total != int64(len("binary 1.1.0")) || d.Release != "1.1.0" || d.Running != "1.0.0" {
		t.Errorf("progress ack %+v", d)
	}
	if err := <-errc; !errors.Is(err, ErrRestart) {
		t.Fatalf("Run: %v, want ErrRestart", err)
	}
	g.exeIs("binary 1.1.0")

	// The new binary, on trial: updated once healthy.
	u := g.updater("1.1.0")
	tr, err := u.Boot()
	if err != nil || tr == nil {
		t.Fatal(tr, err)
	}
	link2 := &fakeLink{}
	var healthy sync.Mutex
	healthy.Lock()
	isHealthy := func() bool {
		if healthy.TryLock() {
			healthy.Unlock()
			return true
		}
		return false
	}
	a2 := u.Listen("plant-a", "gw-01", tr, isHealthy)
	a2.OnConnect(link2)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { errc <- a2.Run(ctx) }()
	link2.announce(telemetry.SiteUpdateTopic("plant-a"), payload) // the retained one: no ack
	healthy.Unlock()
	acks = link2.statuses(t, telemetry.UpdateUpdated)
	if len(acks) != 1 || acks[0].Release != "1.1.0" || acks[0].Running != "1.1.0" {
		t.Errorf("acks of the new binary %+v", acks)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if tr, err := g.updater("1.1.0").Boot(); tr != nil || err != nil {
		t.Fatalf("still on trial after updated: %v %v", tr, err)
	}
}

// A binary never healthy rolls back by its deadline; the restored one
// reports rolled_back at its first connect, once.
func TestAnnouncementsRollback(t *testing.T) {
	g := newRig(t)
	payload := g.release("1.1.0", []byte("binary 1.1.0"), g.priv)
	if err := g.install(g.updater("1.0.0"), payload); !errors.Is(err, ErrRestart) {
		t.Fatal(err)
	}
	u := g.updater("1.1.0")
	tr, _ := u.Boot()
	g.clock.t = g.clock.t.Add(2 * time.Minute)
	if err := u.Listen("plant-a", "gw-01", tr, func() bool { return false }).Run(context.Background()); !errors.Is(err, ErrRestart) {
		t.Fatalf("Run past the deadline: %v", err)
	}
	g.exeIs("binary 1.0.0")
	for i, want := range []int{1, 0} {
		back := g.updater("1.0.0")
		link := &fakeLink{}
		a := back.Listen("plant-a", "gw-01", nil, func() bool { return true })
		a.OnConnect(link)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- a.Run(ctx) }()
		link.announce(telemetry.UpdateTopic("plant-a", "gw-01"), payload) // retained: history
		link.live(telemetry.UpdateTopic("plant-a", "gw-01"), payload)     // announced again: answered
		acks := link.statuses(t, telemetry.UpdateRejected)
		if len(acks) != want+1 {
			t.Errorf("start %d: acks %+v, want %d rolled_back and a rejection", i, acks, want)
		}
		if want == 1 && (acks[0].Status != telemetry.UpdateRolledBack || acks[0].Release != "1.1.0" || acks[0].Running != "1.0.0" || acks[0].Reason == "") {
			t.Errorf("rollback ack %+v", acks[0])
		}
		cancel()
		<-errc
	}
}
