package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/boilerwatch/boilerwatch/simulator/model"
)

// TruthRecord is one line of the ground-truth file: what really happened
// in one simulated minute, for a boiler or for one counter of a meter. The
// end-to-end tests hold the collector's efficiency and energy accounting
// against it.
type TruthRecord struct {
	Kind string    `json:"kind"` // "boiler" or "counter"
	T    time.Time `json:"t"`    // start of the simulated minute

	// Boiler minutes (kind "boiler").
	Boiler     string  `json:"boiler,omitempty"`
	Seconds    float64 `json:"seconds,omitempty"`
	SteamT     float64 `json:"steam_t,omitempty"`
	CoalT      float64 `json:"coal_t,omitempty"`
	HeatOutKJ  float64 `json:"heat_out_kj,omitempty"`
	FuelHeatKJ float64 `json:"fuel_heat_kj,omitempty"`
	Efficiency float64 `json:"efficiency,omitempty"` // %, 100·heat_out/fuel_heat
	ExhaustC   float64 `json:"exhaust_c,omitempty"`
	O2Pct      float64 `json:"o2,omitempty"`
	Load       float64 `json:"load,omitempty"` // fraction of rated
	LHV        float64 `json:"lhv,omitempty"`  // kJ/kg

	// Meter counters (kind "counter"): the model's true total, whatever a
	// fault makes the device serve.
	Device   string  `json:"device,omitempty"`
	Quantity string  `json:"quantity,omitempty"`
	Delta    float64 `json:"delta,omitempty"`
	Value    float64 `json:"value,omitempty"` // at the end of the minute
}

// Truth writes ground truth as JSON lines, per simulated minute.
type Truth struct {
	mu       sync.Mutex
	f        *os.File
	w        *bufio.Writer
	enc      *json.Encoder
	err      error
	boilers  []truthBoiler
	counters []*truthCounter
}

type truthBoiler struct {
	name string
	b    *model.Boiler
}

// truthCounter follows one counting quantity of a meter's model. Between
// two simulator steps a meter's rates are constant, so its total is linear
// in time there, and the value at each minute boundary is interpolated
// exactly.
type truthCounter struct {
	device, quantity string
	src              model.Source
	lastT            time.Time
	lastV            float64
	minuteV          float64 // value at the start of the current minute
	minute           time.Time
}

// NewTruth creates (truncates) the ground-truth file.
func NewTruth(path string) (*Truth, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("truth: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	return &Truth{f: f, w: w, enc: json.NewEncoder(w)}, nil
}

// SetTruth makes the simulator record ground truth into t: every boiler's
// minutes, and every counting point of the meters that have a model of
// their own (a boiler's counters are in its minutes). Call it before Run.
func (s *Simulator) SetTruth(t *Truth) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.boilers))
	for n := range s.boilers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b := s.boilers[n]
		b.RecordTruth()
		t.boilers = append(t.boilers, truthBoiler{n, b})
	}
	seen := map[string]bool{}
	start := s.sc.Start.Time
	for _, d := range s.devices {
		switch d.source.(type) {
		case *model.Boiler, *model.BoilerInstruments:
			continue
		}
		q := d.source.Quantities()
		for _, p := range d.cfg.Spec.Points {
			name := p.QuantityName()
			v, ok := q[name].(float64)
			key := fmt.Sprintf("%p/%s", d.source, name)
			if !p.Counter || !ok || seen[key] {
				continue
			}
			seen[key] = true
			t.counters = append(t.counters, &truthCounter{device: d.cfg.Name, quantity: name, src: d.source,
				lastT: start, lastV: v, minuteV: v, minute: start.Truncate(time.Minute)})
		}
	}
	s.truth = t
}

// observe records what the models did up to simulated time now; it runs
// after every step, with the simulator's lock held.
func (t *Truth) observe(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tb := range t.boilers {
		for _, m := range tb.b.TakeTruth() {
			t.write(TruthRecord{Kind: "boiler", Boiler: tb.name, T: m.Start, Seconds: m.Seconds, SteamT: m.SteamT, CoalT: m.CoalT,
				HeatOutKJ: m.HeatOutKJ, FuelHeatKJ: m.FuelHeatKJ, Efficiency: m.Efficiency(),
				ExhaustC: m.ExhaustC, O2Pct: m.O2Pct, Load: m.Load, LHV: m.LHV})
		}
	}
	for _, c := range t.counters {
		if !now.After(c.lastT) {
			continue
		}
		v, ok := c.src.Quantities()[c.quantity].(float64)
		if !ok {
			continue
		}
		for b := c.minute.Add(time.Minute); !b.After(now); b = b.Add(time.Minute) {
			vb := c.lastV + (v-c.lastV)*float64(b.Sub(c.lastT))/float64(now.Sub(c.lastT))
			t.write(TruthRecord{Kind: "counter", Device: c.device, Quantity: c.quantity, T: c.minute, Delta: vb - c.minuteV, Value: vb})
			c.minute, c.minuteV = b, vb
		}
		c.lastT, c.lastV = now, v
	}
	if t.err == nil {
		t.err = t.w.Flush()
	}
}

func (t *Truth) write(r TruthRecord) {
	if t.err == nil {
		t.err = t.enc.Encode(r)
	}
}

// Close flushes and closes the file.
func (t *Truth) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.err
	if err == nil {
		err = t.w.Flush()
	}
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadTruth parses a ground-truth file.
func ReadTruth(r io.Reader) ([]TruthRecord, error) {
	dec := json.NewDecoder(r)
	var out []TruthRecord
	for {
		var rec TruthRecord
		if err := dec.Decode(&rec); err == io.EOF {
			return out, nil
		} else if err != nil {
			return out, fmt.Errorf("truth line %d: %w", len(out)+1, err)
		}
		out = append(out, rec)
	}
}
