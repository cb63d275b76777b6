package sim

import (
	"fmt"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/simulator/mbserver"
	"github.com/boilerwatch/boilerwatch/simulator/model"
)

// span is a run of addresses [lo, hi) that a profile's points cover.
type span struct{ lo, hi int }

// counterQuantities are totals in the quantity vocabulary; a profile point
// marked counter: true is one too.
var counterQuantities = map[string]bool{
	"steam_total": true, "coal_total": true, "energy_import": true, "energy_export": true,
	"heat_total": true, "water_total": true, "gas_total_std": true, "gas_total_work": true,
}

// device is a profile served from a bank, with values from a model. It is
// the mbserver.Device the server sees: it checks the profile's address map
// before the bank answers.
type device struct {
	cfg    Device
	srv    *server
	bank   *mbserver.Bank
	source model.Source
	log    *slog.Logger
	strict bool
	cover  [4][]span // per table (Coils..InputRegisters), sorted and merged
	faults faultSet
	// requests counts the requests addressed to the unit (control API).
	requests atomic.Uint64
	// counters are the quantities that count up, served minus base[q].
	counters []string
	// scaleDefault is what a scale_from source point serves when the model
	// has no value for it: the value whose factor is 1 (exponent 0, ratio 1).
	scaleDefault map[string]float64
	// factors are the scale_from factors last served, by point name, for
	// decoding what was served; written by refresh, read by record.
	factors atomic.Pointer[map[string]float64]

	// Owned by the stepping goroutine (under Simulator.mu).
	base  map[string]float64 // a replaced meter starts again from zero
	offAt map[string]float64 // model totals when the power went off
	off   bool
}

var _ mbserver.Device = (*device)(nil)

func tableOf(r profile.RegisterType) mbserver.Table {
	switch r {
	case profile.Coil:
		return mbserver.Coils
	case profile.Discrete:
		return mbserver.DiscreteInputs
	case profile.Holding:
		return mbserver.HoldingRegisters
	}
	return mbserver.InputRegisters
}

func registerOf(t mbserver.Table) profile.RegisterType {
	switch t {
	case mbserver.Coils:
		return profile.Coil
	case mbserver.DiscreteInputs:
		return profile.Discrete
	case mbserver.HoldingRegisters:
		return profile.Holding
	}
	return profile.Input
}

func newDevice(cfg Device, src model.Source, rec *Recorder, log *slog.Logger) *device {
	var size mbserver.BankSize
	sizes := [4]*int{&size.Coils, &size.DiscreteInputs, &size.HoldingRegisters, &size.InputRegisters}
	d := &device{cfg: cfg, source: src, log: log, strict: cfg.Holes != HolesZero,
		base: map[string]float64{}, offAt: map[string]float64{}}
	seen := map[string]bool{}
	d.scaleDefault = map[string]float64{}
	for _, p := range cfg.Spec.Points {
		for _, sf := range p.ScaleFrom {
			d.scaleDefault[sf.Point] = 1
			if sf.Map == profile.Power10 {
				d.scaleDefault[sf.Point] = 0
			}
		}
	}
	for _, p := range cfg.Spec.Points {
		t := tableOf(p.Register) - 1
		end := p.Address + p.Words()
		*sizes[t] = max(*sizes[t], end)
		d.cover[t] = append(d.cover[t], span{p.Address, end})
		q := p.QuantityName()
		if (p.Counter || counterQuantities[q]) && !seen[q] {
			seen[q] = true
			d.counters = append(d.counters, q)
		}
	}
	// The areas the manual says the device answers are served too, their
	// registers that no point names reading zero: a strict map refuses only
	// what the real device refuses.
	for _, a := range cfg.Spec.Areas {
		t := tableOf(a.Register) - 1
		*sizes[t] = max(*sizes[t], a.End())
		d.cover[t] = append(d.cover[t], span{a.From, a.End()})
	}
	for t := range d.cover {
		d.cover[t] = merge(d.cover[t])
	}
	d.bank = mbserver.NewBank(size)
	d.factors.Store(&map[string]float64{})
	if rec != nil {
		d.bank.SetOnRead(func(t mbserver.Table, addr, qty uint16, regs []uint16, bits []bool) {
			d.record(rec, t, int(addr), int(qty), regs, bits)
		})
	}
	for _, f := range cfg.faults {
		d.faults.add(f, time.Time{}, false) // placed in time by Simulator.Run
	}
	return d
}

// merge sorts spans and joins those that overlap or touch.
func merge(s []span) []span {
	sort.Slice(s, func(i, j int) bool { return s[i].lo < s[j].lo })
	var out []span
	for _, x := range s {
		if n := len(out); n > 0 && x.lo <= out[n-1].hi {
			out[n-1].hi = max(out[n-1].hi, x.hi)
			continue
		}
		out = append(out, x)
	}
	return out
}

// covered reports whether [lo, hi) lies inside one merged span.
func covered(spans []span, lo, hi int) bool {
	i := sort.Search(len(spans), func(i int) bool { return spans[i].hi > lo })
	return i < len(spans) && spans[i].lo <= lo && hi <= spans[i].hi
}

// check answers exception 2 for addresses outside the profile's map (its
// points and areas), as a meter does for a read that spans a hole in its
// register table.
func (d *device) check(t mbserver.Table, addr, qty uint16) error {
	if d.strict && !covered(d.cover[t-1], int(addr), int(addr)+int(qty)) {
		return fmt.Errorf("device %s: %v %d..%d not all in profile %s: %w",
			d.cfg.Name, t, addr, int(addr)+int(qty)-1, d.cfg.Spec.Name, mbserver.IllegalDataAddress)
	}
	return nil
}

// ReadBits implements mbserver.Device.
func (d *device) ReadBits(t mbserver.Table, addr, qty uint16) ([]bool, error) {
	if err := d.check(t, addr, qty); err != nil {
		return nil, err
	}
	return d.bank.ReadBits(t, addr, qty)
}

// ReadRegisters implements mbserver.Device.
func (d *device) ReadRegisters(t mbserver.Table, addr, qty uint16) ([]uint16, error) {
	if err := d.check(t, addr, qty); err != nil {
		return nil, err
	}
	return d.bank.ReadRegisters(t, addr, qty)
}

// WriteBits implements mbserver.Device. A write lands in the bank; the next
// update overwrites points the model drives, as a meter ignores writes to
// its measurements.
func (d *device) WriteBits(addr uint16, vals []bool) error {
	if err := d.check(mbserver.Coils, addr, uint16(len(vals))); err != nil {
		return err
	}
	return d.bank.WriteBits(addr, vals)
}

// WriteRegisters implements mbserver.Device.
func (d *device) WriteRegisters(addr uint16, vals []uint16) error {
	if err := d.check(mbserver.HoldingRegisters, addr, uint16(len(vals))); err != nil {
		return err
	}
	return d.bank.WriteRegisters(addr, vals)
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
		factor := 1.0
		if f, ok := (*d.factors.Load())[p.Name]; ok {
			factor = f
		}
		if v, err := p.DecodeWith(words, factor); err == nil {
			s.Values[p.Name] = v.Any()
		} else {
			s.Values[p.Name] = nil
		}
	}
	if len(s.Raw) > 0 {
		rec.add(s)
	}
}

// refresh applies the device faults in force at now (real time) and encodes
// the model's quantities q into the bank.
func (d *device) refresh(q map[string]any, now time.Time) {
	if d.faults.active(FaultStuck, now) != nil {
		return // frozen registers: whatever the model does
	}
	if d.faults.active(FaultPowerCycle, now) != nil {
		if !d.off {
			// A meter without power counts nothing; it keeps its totals.
			for _, c := range d.counters {
				d.offAt[c] = number(q[c])
			}
			d.off = true
		}
		return
	}
	if d.off {
		for _, c := range d.counters {
			d.base[c] += number(q[c]) - d.offAt[c]
		}
		d.off = false
	}
	if in := d.faults.active(FaultMeterReplacement, now); in != nil {
		for _, c := range d.counters {
			d.base[c] = number(q[c])
		}
		in.hits.Store(1)
		in.done.Store(true)
		d.log.Info("fault injected: meter replaced, counters restart from zero", "device", d.cfg.Name, "fault", FaultMeterReplacement, "counters", d.counters)
	}
	d.counterFaults(q, now)
	factors := map[string]float64{}
	for i := range d.cfg.Spec.Points {
		p := &d.cfg.Spec.Points[i]
		if len(p.ScaleFrom) == 0 {
			continue
		}
		f, err := p.ScaleFrom.Factor(func(name string) (float64, error) {
			if src := d.cfg.Spec.Point(name); src != nil {
				if v, ok := d.value(src, q); ok {
					return number(v), nil
				}
			}
			return 0, fmt.Errorf("no value")
		})
		if err != nil {
			d.log.Debug("scale not servable", "device", d.cfg.Name, "point", p.Name, "error", err)
			f = 1
		}
		factors[p.Name] = f
	}
	d.factors.Store(&factors)
	for i := range d.cfg.Spec.Points {
		p := &d.cfg.Spec.Points[i]
		v, ok := d.value(p, q)
		if !ok {
			continue // a quantity the model lacks reads as zero, like an unwired input
		}
		factor, ok := factors[p.Name]
		if !ok {
			factor = 1
		}
		words, err := p.EncodeWith(v, factor)
		if err != nil {
			d.log.Debug("value not encodable", "device", d.cfg.Name, "point", p.Name, "error", err)
			continue
		}
		t := tableOf(p.Register)
		if p.Register.IsBit() {
			d.bank.SetBits(t, uint16(p.Address), []bool{words[0] != 0})
			continue
		}
		if p.Type == profile.Bool {
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

// value is what point p serves for the model's quantities q: the model's
// value (counters from their base), a scale source's neutral value, or
// nothing.
func (d *device) value(p *profile.Point, q map[string]any) (any, bool) {
	v, ok := q[p.QuantityName()]
	if !ok {
		def, isScale := d.scaleDefault[p.Name]
		return def, isScale
	}
	if b, ok := d.base[p.QuantityName()]; ok {
		v = max(number(v)-b, 0)
	}
	if p.Modulus != nil && p.Counter {
		v = wrapped(p, number(v))
	}
	return v, true
}

// number reads a quantity as a float (bools as 0/1).
func number(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case bool:
		if x {
			return 1
		}
	case int:
		return float64(x)
	}
	return 0
}
