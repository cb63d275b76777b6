package sim

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/bus"
	"github.com/boilerwatch/boilerwatch/simulator/mbserver"
)

// syncBuffer collects the simulator's log for assertions.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is a simulator started by a test.
type running struct {
	*Simulator
	log *syncBuffer
}

// startScenario runs sc until the test ends; rec may be nil.
func startScenario(t testing.TB, sc *Scenario, rec *Recorder) *running {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := New(sc, rec, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10 s of cancel")
		}
		if t.Failed() {
			t.Logf("simulator log:\n%s", logs.String())
		}
	})
	return &running{Simulator: s, log: logs}
}

// startText loads a scenario from YAML text and runs it.
func startText(t testing.TB, text string) *running {
	t.Helper()
	sc, err := loadText(t, text)
	if err != nil {
		t.Fatal(err)
	}
	return startScenario(t, sc, nil)
}

// newBus starts one of the gateway's buses on a transport and address (or
// serial device); it runs until the test ends.
func newBus(t testing.TB, transport fwconfig.Transport, addr string, timeout time.Duration) *bus.Bus {
	t.Helper()
	b, err := bus.New(bus.Options{
		Bus:     fwconfig.Bus{Transport: transport, Address: addr, Baud: 9600, Parity: "none", DataBits: 8, StopBits: 1},
		Timeout: timeout,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return b
}

// read reads through a bus with a 10 s bound on the whole call.
func read(b *bus.Bus, unit byte, reg profile.RegisterType, start, count int) ([]uint16, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, _, err := b.Read(ctx, unit, reg, start, count, 0)
	return w, err
}

// point returns a profile's point, failing the test if it is missing.
func point(t testing.TB, s *Simulator, profile, name string) *profile.Point {
	t.Helper()
	pr := s.sc.Library[profile]
	if pr == nil || pr.Point(name) == nil {
		t.Fatalf("profile %s has no point %s", profile, name)
	}
	return pr.Point(name)
}

// readPoint reads and decodes one point through a bus.
func readPoint(b *bus.Bus, unit byte, p *profile.Point) (any, []uint16, error) {
	w, err := read(b, unit, p.Register, p.Address, p.Words())
	if err != nil {
		return nil, nil, err
	}
	v, err := p.Decode(w)
	return v.Any(), w, err
}

// mbserverTable is the table of a device's cover index.
func mbserverTable(i int) mbserver.Table { return mbserver.Table(i + 1) }

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
