package sim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/simulator/mbserver"
	"github.com/boilerwatch/boilerwatch/simulator/model"
)

// device is a profile served from a bank, with values from a model.
type device struct {
	cfg    Device
	bank   *mbserver.Bank
	source model.Source
}

func tableOf(r fwconfig.RegisterType) mbserver.Table {
	switch r {
	case fwconfig.Coil:
		return mbserver.Coils
	case fwconfig.Discrete:
		return mbserver.DiscreteInputs
	case fwconfig.Holding:
		return mbserver.HoldingRegisters
	}
	return mbserver.InputRegisters
}

func registerOf(t mbserver.Table) fwconfig.RegisterType {
	switch t {
	case mbserver.Coils:
		return fwconfig.Coil
	case mbserver.DiscreteInputs:
		return fwconfig.Discrete
	case mbserver.HoldingRegisters:
		return fwconfig.Holding
	}
	return fwconfig.Input
}

func newDevice(cfg Device, src model.Source, rec *Recorder) *device {
	var size mbserver.BankSize
	for _, p := range cfg.Spec.Points {
		end := p.Address + p.Words()
		switch p.Register {
		case fwconfig.Coil:
			size.Coils = max(size.Coils, end)
		case fwconfig.Discrete:
			size.DiscreteInputs = max(size.DiscreteInputs, end)
		case fwconfig.Holding:
			size.HoldingRegisters = max(size.HoldingRegisters, end)
		case fwconfig.Input:
			size.InputRegisters = max(size.InputRegisters, end)
		}
	}
	d := &device{cfg: cfg, bank: mbserver.NewBank(size), source: src}
	if rec != nil {
		d.bank.SetOnRead(func(t mbserver.Table, addr, qty uint16, regs []uint16, bits []bool) {
			d.record(rec, t, int(addr), int(qty), regs, bits)
		})
	}
	return d
}

// record notes every point wholly inside a served read, decoded from exactly
// the words that were sent.
func (d *device) record(rec *Recorder, t mbserver.Table, addr, qty int, regs []uint16, bits []bool) {
	s := Served{T: time.Now().UnixMilli(), Device: d.cfg.Name, Values: map[string]any{}, Raw: map[string][]uint16{}}
	reg := registerOf(t)
	for i := range d.cfg.Spec.Points {
		p := &d.cfg.Spec.Points[i]
		if p.Register != reg || p.Address < addr || p.Address+p.Words() > addr+qty {
			continue
		}
		var words []uint16
		if bits != nil {
			words = []uint16{0}
			if bits[p.Address-addr] {
				words[0] = 1
			}
		} else {
			words = append([]uint16(nil), regs[p.Address-addr:p.Address-addr+p.Words()]...)
		}
		s.Raw[p.Name] = words
		if v, err := p.Decode(words); err == nil {
			s.Values[p.Name] = v
		} else {
			s.Values[p.Name] = nil
		}
	}
	if len(s.Raw) > 0 {
		rec.add(s)
	}
}

// refresh encodes the model's current quantities into the bank.
func (d *device) refresh(q map[string]any, log *slog.Logger) {
	for i := range d.cfg.Spec.Points {
		p := &d.cfg.Spec.Points[i]
		v, ok := q[p.QuantityName()]
		if !ok {
			continue // a quantity the model lacks reads as zero, like an unwired input
		}
		words, err := p.Encode(v)
		if err != nil {
			log.Debug("value not encodable", "device", d.cfg.Name, "point", p.Name, "error", err)
			continue
		}
		t := tableOf(p.Register)
		if p.Register.IsBit() {
			d.bank.SetBits(t, uint16(p.Address), []bool{words[0] != 0})
			continue
		}
		if p.Type == fwconfig.Bool {
			// A bit in a register shares it with other bits: merge.
			cur, err := d.bank.Registers(t, uint16(p.Address), 1)
			if err != nil {
				continue
			}
			mask := uint16(1) << uint(*p.Bit)
			words[0] = cur[0]&^mask | words[0]&mask
		}
		d.bank.SetRegisters(t, uint16(p.Address), words)
	}
}

// Simulator is a running scenario.
type Simulator struct {
	sc      *Scenario
	log     *slog.Logger
	rec     *Recorder
	boilers map[string]*model.Boiler
	sources []model.Source
	devices []*device
	servers []*mbserver.Server
	lns     []net.Listener
	realT0  time.Time
	mu      sync.Mutex
}

// New builds the models and devices of a scenario; rec may be nil.
func New(sc *Scenario, rec *Recorder, log *slog.Logger) (*Simulator, error) {
	s := &Simulator{sc: sc, log: log, rec: rec, boilers: map[string]*model.Boiler{}}
	for i, b := range sc.Boilers {
		m, err := model.NewBoiler(b.params(), sc.Seed+uint64(i)*7919, sc.Start)
		if err != nil {
			return nil, fmt.Errorf("boiler %s: %w", b.Name, err)
		}
		s.boilers[b.Name] = m
		s.sources = append(s.sources, m)
	}
	fans := map[string]*model.FanMeter{}
	for _, srvCfg := range sc.Servers {
		srv := mbserver.NewServer(mbserver.Options{Logger: log.With("listen", srvCfg.Listen)})
		for _, dc := range srvCfg.Devices {
			b := s.boilers[dc.Boiler]
			var src model.Source = b
			if dc.Spec.Class == "electricity_meter" {
				f := fans[dc.Boiler]
				if f == nil {
					f = model.NewFanMeter(b, sc.Seed+uint64(len(fans))*104729+1, sc.Start)
					fans[dc.Boiler] = f
					s.sources = append(s.sources, f)
				}
				src = f
			}
			d := newDevice(dc, src, rec)
			s.devices = append(s.devices, d)
			srv.SetDevice(uint8(dc.UnitID), d.bank)
		}
		s.servers = append(s.servers, srv)
	}
	s.step(sc.Start)
	return s, nil
}

// Listen opens every server's port; the addresses are known after it.
func (s *Simulator) Listen() error {
	for _, srv := range s.sc.Servers {
		ln, err := net.Listen("tcp", srv.Listen)
		if err != nil {
			for _, l := range s.lns {
				l.Close()
			}
			return fmt.Errorf("simulator: %w", err)
		}
		s.lns = append(s.lns, ln)
	}
	return nil
}

// Addrs are the bound addresses, in scenario order.
func (s *Simulator) Addrs() []string {
	out := make([]string, len(s.lns))
	for i, l := range s.lns {
		out[i] = l.Addr().String()
	}
	return out
}

// Describe writes what the simulator serves.
func (s *Simulator) Describe(w io.Writer) {
	for i, srv := range s.sc.Servers {
		addr := srv.Listen
		if i < len(s.lns) {
			addr = s.lns[i].Addr().String()
		}
		fmt.Fprintf(w, "modbus tcp %s\n", addr)
		for _, d := range srv.Devices {
			fmt.Fprintf(w, "  unit %3d  %-12s profile %s (%s, %d points), driven by boiler %s\n",
				d.UnitID, d.Name, d.Spec.Name, d.Spec.Class, len(d.Spec.Points), d.Boiler)
		}
	}
	fmt.Fprintf(w, "time: simulated start %s, acceleration ×%g, update every %s\n", s.sc.Start.Format(time.RFC3339), s.sc.Acceleration, s.sc.Update)
}

// SimTime maps a real time to simulated time.
func (s *Simulator) SimTime(real time.Time) time.Time {
	el := real.Sub(s.realT0)
	return s.sc.Start.Add(time.Duration(float64(el) * s.sc.Acceleration))
}

func (s *Simulator) step(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, src := range s.sources {
		src.Step(t)
	}
	for _, d := range s.devices {
		d.refresh(d.source.Quantities(), s.log)
	}
}

// Run serves until ctx is done. Listen must have been called.
func (s *Simulator) Run(ctx context.Context) error {
	s.realT0 = time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(s.servers))
	for i, srv := range s.servers {
		ln := s.lns[i]
		wg.Go(func() {
			if err := srv.Serve(ctx, ln); err != nil {
				errs <- err
			}
		})
	}
	t := time.NewTicker(s.sc.Update)
	defer t.Stop()
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err = <-errs:
			break loop
		case now := <-t.C:
			s.step(s.SimTime(now))
		case <-flush.C:
			if s.rec != nil {
				if ferr := s.rec.Flush(); ferr != nil {
					s.log.Error("record", "error", ferr)
				}
			}
		}
	}
	cancel()
	wg.Wait()
	return err
}

// Boiler returns a boiler's model, for ground truth.
func (s *Simulator) Boiler(name string) *model.Boiler { return s.boilers[name] }
