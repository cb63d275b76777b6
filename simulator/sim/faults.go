package sim

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/crc16"

	"github.com/boilerwatch/boilerwatch/simulator/mbserver"
)

// Fault kinds. Wire faults shape the answers to requests; device faults
// (stuck, power_cycle, meter_replacement, counter_wrap, counter_reset)
// change what the device holds;
// refuse acts on the device's whole TCP port.
const (
	FaultDelay            = "delay"             // answer after Delay
	FaultNoResponse       = "no_response"       // no answer at all
	FaultException        = "exception"         // exception Code instead of the answer
	FaultGarbled          = "garbled"           // answer's data bytes scrambled
	FaultBadCRC           = "bad_crc"           // RTU answer with a wrong CRC
	FaultWrongTID         = "wrong_tid"         // answer with another transaction id (RTU: another unit id)
	FaultSplit            = "split"             // answer in Pieces with Gap between them
	FaultReset            = "reset"             // connection reset instead of an answer
	FaultRefuse           = "refuse"            // the device's TCP port resets every connection
	FaultPowerCycle       = "power_cycle"       // off for Duration: no answers, counters hold
	FaultMeterReplacement = "meter_replacement" // counters restart from zero (once, at Start)
	FaultStuck            = "stuck"             // registers freeze
	FaultCounterWrap      = "counter_wrap"      // counters with a modulus jump to Below under it (once, at Start)
	FaultCounterReset     = "counter_reset"     // counters restart from Value, default 0 (once, at Start)
)

// FaultKinds lists every fault kind, for documentation and errors.
var FaultKinds = []string{
	FaultDelay, FaultNoResponse, FaultException, FaultGarbled, FaultBadCRC, FaultWrongTID, FaultSplit,
	FaultReset, FaultRefuse, FaultPowerCycle, FaultMeterReplacement, FaultStuck,
	FaultCounterWrap, FaultCounterReset,
}

// FaultSpec is one fault as written in a scenario (a device's faults:) or
// posted to the control API. Durations are written such as "500ms" or "2m".
type FaultSpec struct {
	Kind string `yaml:"kind" json:"kind"`
	// Start and Stop are offsets in real time from when the fault is set:
	// the simulator's start for a scenario, the request for the API. Unset
	// Start is at once; unset Stop is never.
	Start conf.Duration `yaml:"start" json:"start,omitzero"`
	Stop  conf.Duration `yaml:"stop" json:"stop,omitzero"`
	// Count limits a wire fault to this many requests; 0 is unlimited.
	Count int `yaml:"count" json:"count,omitempty"`
	// Probability makes a wire fault hit this share of requests (0..1);
	// 0 means 1.
	Probability float64       `yaml:"probability" json:"probability,omitempty"`
	Delay       conf.Duration `yaml:"delay" json:"delay,omitzero"`       // delay
	Code        int           `yaml:"code" json:"code,omitempty"`        // exception: 1..11
	Pieces      int           `yaml:"pieces" json:"pieces,omitempty"`    // split: default 3
	Gap         conf.Duration `yaml:"gap" json:"gap,omitzero"`           // split: default 20ms
	Duration    conf.Duration `yaml:"duration" json:"duration,omitzero"` // power_cycle: default 10s
	// Below is how far under its modulus counter_wrap puts each counter,
	// in the point's unit (default 0.01 % of the modulus).
	Below float64 `yaml:"below" json:"below,omitempty"`
	// Value is the reading counter_reset restarts the counters from
	// (default 0: a zeroed meter; else a replacement meter's first reading).
	Value *float64 `yaml:"value" json:"value,omitempty"`
}

// fault is a validated FaultSpec.
type fault struct {
	spec        FaultSpec
	start, stop time.Duration // stop 0: never
	count       int64
	probability float64
	delay, gap  time.Duration
	code        byte
	pieces      int
	duration    time.Duration
}

// parse validates a spec for a device on a server speaking protocol.
func (fs FaultSpec) parse(protocol string) (fault, error) {
	f := fault{spec: fs, count: int64(fs.Count), probability: fs.Probability, code: byte(fs.Code), pieces: fs.Pieces}
	var err error
	f.start, f.stop = fs.Start.Duration, fs.Stop.Duration
	if fs.Stop.IsSet() && f.stop <= f.start {
		return f, fmt.Errorf("stop %s is not after start %s", fs.Stop, fs.Start)
	}
	if fs.Count < 0 {
		return f, fmt.Errorf("count %d: want 0 (unlimited) or more", fs.Count)
	}
	if fs.Probability < 0 || fs.Probability > 1 {
		return f, fmt.Errorf("probability %g: want 0..1", fs.Probability)
	}
	if f.probability == 0 {
		f.probability = 1
	}
	wire := true
	// only lists the fields a kind takes besides start and stop.
	only := func(fields ...string) error {
		set := map[string]bool{"delay": fs.Delay.IsSet(), "code": fs.Code != 0, "pieces": fs.Pieces != 0, "gap": fs.Gap.IsSet(), "duration": fs.Duration.IsSet(),
			"below": fs.Below != 0, "value": fs.Value != nil}
		if !wire {
			set["count"], set["probability"] = fs.Count != 0, fs.Probability != 0
		}
		for _, k := range fields {
			delete(set, k)
		}
		for k, on := range set {
			if on {
				return fmt.Errorf("%s does not apply to kind %s", k, fs.Kind)
			}
		}
		return nil
	}
	tcpOnly := func() error {
		if protocol == ProtocolRTU {
			return fmt.Errorf("kind %s needs a TCP connection; this device is on a serial line", fs.Kind)
		}
		return nil
	}
	switch fs.Kind {
	case FaultDelay:
		f.delay = fs.Delay.Duration
		if f.delay <= 0 {
			return f, fmt.Errorf("delay: how long? (e.g. delay: 2s)")
		}
		err = only("delay")
	case FaultNoResponse, FaultGarbled, FaultWrongTID:
		err = only()
	case FaultException:
		switch fs.Code {
		case 1, 2, 3, 4, 5, 6, 8, 10, 11:
		default:
			return f, fmt.Errorf("code %d: want an exception code 1, 2, 3, 4, 5, 6, 8, 10 or 11", fs.Code)
		}
		err = only("code")
	case FaultBadCRC:
		if protocol == ProtocolTCP {
			return f, fmt.Errorf("kind bad_crc needs RTU framing; Modbus TCP has no CRC (use garbled)")
		}
		err = only()
	case FaultSplit:
		if f.pieces == 0 {
			f.pieces = 3
		}
		if f.pieces < 2 || f.pieces > 256 {
			return f, fmt.Errorf("pieces %d: want 2..256", fs.Pieces)
		}
		f.gap = 20 * time.Millisecond
		if fs.Gap.IsSet() {
			f.gap = fs.Gap.Duration
		}
		err = only("pieces", "gap")
	case FaultReset:
		if err = tcpOnly(); err == nil {
			err = only()
		}
	case FaultRefuse:
		wire = false
		if err = tcpOnly(); err == nil {
			err = only()
		}
	case FaultPowerCycle:
		wire = false
		f.duration = 10 * time.Second
		if fs.Duration.IsSet() {
			f.duration = fs.Duration.Duration
		}
		if f.duration <= 0 {
			return f, fmt.Errorf("duration: want a positive duration")
		}
		if fs.Stop.IsSet() {
			return f, fmt.Errorf("stop does not apply to kind power_cycle: it ends after duration")
		}
		f.stop = f.start + f.duration
		err = only("duration")
	case FaultMeterReplacement:
		wire = false
		if fs.Stop.IsSet() {
			return f, fmt.Errorf("stop does not apply to kind meter_replacement: it happens once, at start")
		}
		err = only()
	case FaultStuck:
		wire = false
		err = only()
	case FaultCounterWrap, FaultCounterReset:
		wire = false
		if fs.Stop.IsSet() {
			return f, fmt.Errorf("stop does not apply to kind %s: it happens once, at start", fs.Kind)
		}
		if fs.Below < 0 || math.IsNaN(fs.Below) || math.IsInf(fs.Below, 0) {
			return f, fmt.Errorf("below %g: want how far under the modulus, ≥ 0, in the counter's unit", fs.Below)
		}
		if v := fs.Value; v != nil && (*v < 0 || math.IsNaN(*v) || math.IsInf(*v, 0)) {
			return f, fmt.Errorf("value %g: want the reading the counters restart from, ≥ 0", *v)
		}
		if fs.Kind == FaultCounterWrap {
			err = only("below")
		} else {
			err = only("value")
		}
	default:
		return f, fmt.Errorf("kind %q: want one of %v", fs.Kind, FaultKinds)
	}
	return f, err
}

// wire reports whether the fault shapes answers to requests.
func (f *fault) wire() bool {
	switch f.spec.Kind {
	case FaultRefuse, FaultPowerCycle, FaultMeterReplacement, FaultStuck, FaultCounterWrap, FaultCounterReset:
		return false
	}
	return true
}

// injected is a fault set on a device at a time.
type injected struct {
	id       int
	f        fault
	setAt    time.Time
	from     time.Time
	until    time.Time    // zero: open-ended
	left     atomic.Int64 // requests left, for count > 0
	hits     atomic.Int64 // requests it affected, or 1 once a replacement is done
	done     atomic.Bool  // a meter replacement happened, or count ran out
	reported bool         // last state logged, owned by the ticker
}

func newInjected(id int, f fault, at time.Time) *injected {
	in := &injected{id: id, f: f, setAt: at, from: at.Add(f.start)}
	if f.stop > 0 {
		in.until = at.Add(f.stop)
	}
	in.left.Store(f.count)
	return in
}

// activeAt reports whether the fault is in force at now. A scenario's
// fault is placed in time when the simulator starts running.
func (in *injected) activeAt(now time.Time) bool {
	return !in.setAt.IsZero() && !in.done.Load() && !now.Before(in.from) && (in.until.IsZero() || now.Before(in.until))
}

// ended reports whether the fault can never be in force again.
func (in *injected) ended(now time.Time) bool {
	return in.done.Load() || (!in.until.IsZero() && !now.Before(in.until))
}

// take decides whether this request is hit, counting it.
func (in *injected) take() bool {
	if in.f.probability < 1 && rand.Float64() >= in.f.probability {
		return false
	}
	if in.f.count > 0 {
		if n := in.left.Add(-1); n < 0 {
			return false
		} else if n == 0 {
			in.done.Store(true)
		}
	}
	in.hits.Add(1)
	return true
}

// faultSet holds a device's faults. The Hook reads it on every request, so
// reads are a lock-free load of an immutable slice; changes copy it.
type faultSet struct {
	mu     sync.Mutex // serializes changes
	nextID int
	cur    atomic.Pointer[[]*injected]
}

func (s *faultSet) list() []*injected {
	if p := s.cur.Load(); p != nil {
		return *p
	}
	return nil
}

// add sets a fault. replace drops the faults of the same kind first, as a
// control API call does.
func (s *faultSet) add(f fault, at time.Time, replace bool) *injected {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	in := newInjected(s.nextID, f, at)
	var next []*injected
	for _, o := range s.list() {
		if !replace || o.f.spec.Kind != f.spec.Kind {
			next = append(next, o)
		}
	}
	next = append(next, in)
	s.cur.Store(&next)
	return in
}

// place puts the faults that wait for the simulator's start (a scenario's)
// in time, counting from start.
func (s *faultSet) place(start time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next []*injected
	for _, o := range s.list() {
		if o.setAt.IsZero() {
			o = newInjected(o.id, o.f, start)
		}
		next = append(next, o)
	}
	s.cur.Store(&next)
}

// remove drops the faults for which drop is true and returns them.
func (s *faultSet) remove(drop func(*injected) bool) []*injected {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next, gone []*injected
	for _, o := range s.list() {
		if drop(o) {
			gone = append(gone, o)
		} else {
			next = append(next, o)
		}
	}
	if len(gone) > 0 {
		s.cur.Store(&next)
	}
	return gone
}

// active returns the first fault of kind in force at now, or nil.
func (s *faultSet) active(kind string, now time.Time) *injected {
	for _, in := range s.list() {
		if in.f.spec.Kind == kind && in.activeAt(now) {
			return in
		}
	}
	return nil
}

// action is what the wire faults in force make of one request.
func (d *device) action(req mbserver.Request, now time.Time) mbserver.Action {
	list := d.faults.list()
	if len(list) == 0 {
		return mbserver.Action{}
	}
	var a mbserver.Action
	for _, in := range list {
		if !in.activeAt(now) {
			continue
		}
		if in.f.spec.Kind == FaultPowerCycle {
			// Switched off: nothing answers, whatever else is set.
			in.hits.Add(1)
			return mbserver.Action{Drop: true}
		}
		if !in.f.wire() || !in.take() {
			continue
		}
		d.log.Debug("fault injected", "device", d.cfg.Name, "fault", in.f.spec.Kind, "unit", req.Unit, "function", req.Function, "addr", req.Addr)
		switch in.f.spec.Kind {
		case FaultDelay:
			a.Delay += in.f.delay
		case FaultNoResponse:
			a.Drop = true
		case FaultException:
			a.Exception = in.f.code
		case FaultGarbled:
			a.Rewrite = chain(a.Rewrite, garble(req.Protocol))
		case FaultWrongTID:
			a.Rewrite = chain(a.Rewrite, wrongID(req.Protocol))
		case FaultBadCRC:
			a.BadCRC = true
		case FaultSplit:
			a.Split, a.SplitGap = in.f.pieces, in.f.gap
		case FaultReset:
			a.Drop, a.Reset = true, true
		}
	}
	return a
}

func chain(first, then func([]byte) []byte) func([]byte) []byte {
	if first == nil {
		return then
	}
	return func(b []byte) []byte { return then(first(b)) }
}

// garble scrambles the data bytes after the function code. The function
// code stays, so a client does not mistake the answer for an exception; on
// TCP the byte count then disagrees with the length, on RTU the CRC is made
// valid again, so only the content gives it away, as with line noise that
// a weak CRC missed.
func garble(p mbserver.Protocol) func([]byte) []byte {
	return func(adu []byte) []byte {
		lo, hi := 8, len(adu) // MBAP header and function code
		if p != mbserver.ProtocolTCP {
			lo, hi = 2, len(adu)-2
		}
		for i := lo; i < hi; i++ {
			adu[i] ^= 0xA5
		}
		if p != mbserver.ProtocolTCP && len(adu) >= 4 {
			adu = resealCRC(adu)
		}
		return adu
	}
}

// wrongID answers with the next transaction id (TCP) or unit id (RTU,
// which has no transaction id: the answer seems to come from another
// device).
func wrongID(p mbserver.Protocol) func([]byte) []byte {
	return func(adu []byte) []byte {
		if p == mbserver.ProtocolTCP {
			if len(adu) >= 2 {
				binary.BigEndian.PutUint16(adu, binary.BigEndian.Uint16(adu)+1)
			}
			return adu
		}
		if len(adu) >= 4 {
			adu[0]++
			adu = resealCRC(adu)
		}
		return adu
	}
}

// resealCRC recomputes the CRC of an RTU frame (CRC-16/Modbus, low byte first).
func resealCRC(adu []byte) []byte {
	n := len(adu) - 2
	crc := crc16.Checksum(adu[:n])
	adu[n], adu[n+1] = byte(crc), byte(crc>>8)
	return adu
}

// FaultStatus is a fault as the control API lists it.
type FaultStatus struct {
	FaultSpec
	ID int `json:"id"`
	// Active tells whether it is in force now; From and Until are when, in
	// real time (Until empty: until cleared).
	Active   bool      `json:"active"`
	From     time.Time `json:"from"`
	Until    time.Time `json:"until,omitzero"`
	Injected int64     `json:"injected"` // requests it affected (1 for a done replacement)
}

func (in *injected) status(now time.Time) FaultStatus {
	return FaultStatus{FaultSpec: in.f.spec, ID: in.id, Active: in.activeAt(now), From: in.from, Until: in.until, Injected: in.hits.Load()}
}

// logAttrs describes a fault for the log.
func (in *injected) logAttrs() []any {
	s := in.f.spec
	attrs := []any{"fault", s.Kind}
	if s.Delay.IsSet() {
		attrs = append(attrs, "delay", s.Delay.Duration)
	}
	if s.Code != 0 {
		attrs = append(attrs, "code", s.Code)
	}
	if s.Kind == FaultSplit {
		attrs = append(attrs, "pieces", in.f.pieces, "gap", in.f.gap)
	}
	if s.Kind == FaultPowerCycle {
		attrs = append(attrs, "duration", in.f.duration)
	}
	if s.Count != 0 {
		attrs = append(attrs, "count", s.Count)
	}
	if s.Probability != 0 {
		attrs = append(attrs, "probability", s.Probability)
	}
	if !in.until.IsZero() {
		attrs = append(attrs, "until", in.until.Format(time.RFC3339Nano))
	}
	return attrs
}

// counterFaults applies a counter_wrap or counter_reset in force at now to
// the model's quantities q, once: it moves each counter's base so that the
// device serves, from now on, the chosen reading plus what the model
// counts. Called by refresh, under the simulator's lock.
func (d *device) counterFaults(q map[string]any, now time.Time) {
	if in := d.faults.active(FaultCounterReset, now); in != nil {
		start := 0.0
		if in.f.spec.Value != nil {
			start = *in.f.spec.Value
		}
		for _, c := range d.counters {
			d.base[c] = number(q[c]) - start
		}
		in.hits.Store(1)
		in.done.Store(true)
		d.log.Info("fault injected: counters reset", "device", d.cfg.Name, "fault", FaultCounterReset, "value", start, "counters", d.counters)
	}
	if in := d.faults.active(FaultCounterWrap, now); in != nil {
		var wrapped []string
		for i := range d.cfg.Spec.Points {
			p := &d.cfg.Spec.Points[i]
			qn := p.QuantityName()
			if p.Modulus == nil || !slices.Contains(d.counters, qn) || slices.Contains(wrapped, qn) {
				continue
			}
			below := in.f.spec.Below
			if below == 0 {
				below = *p.Modulus * 1e-4
			}
			// Served: (model − base) mod modulus = modulus − below now.
			d.base[qn] = number(q[qn]) - (*p.Modulus - min(below, *p.Modulus))
			wrapped = append(wrapped, qn)
		}
		in.done.Store(true)
		if len(wrapped) == 0 {
			d.log.Warn("fault not applicable: no counter of the profile declares a modulus", "device", d.cfg.Name, "fault", FaultCounterWrap, "profile", d.cfg.Spec.Name)
			return
		}
		in.hits.Store(1)
		d.log.Info("fault injected: counters just under their modulus", "device", d.cfg.Name, "fault", FaultCounterWrap, "counters", wrapped)
	}
}

// wrapped is a counter point's served value past its modulus, as the
// meter's register shows it: it rolls over to 0.
func wrapped(p *profile.Point, v float64) float64 {
	if p.Modulus == nil || !p.Counter {
		return v
	}
	return math.Mod(v, *p.Modulus)
}
