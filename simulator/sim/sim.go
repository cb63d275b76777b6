package sim

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
	"github.com/boilerwatch/boilerwatch/simulator/mbserver"
	"github.com/boilerwatch/boilerwatch/simulator/model"
)

// server is one Modbus endpoint of the scenario and the devices behind it.
type server struct {
	cfg     Server
	mb      *mbserver.Server
	ln      net.Listener // tcp and rtu-over-tcp
	port    *os.File     // rtu
	devices []*device
	units   [256]*device
	refused bool // Refuse state last applied, owned by the ticker
}

// address is where the server answers: its bound address or its device.
func (s *server) address() string {
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	if s.cfg.Protocol == ProtocolRTU {
		return s.cfg.Device
	}
	return s.cfg.Listen
}

// Simulator is a running scenario.
type Simulator struct {
	sc      *Scenario
	log     *slog.Logger
	rec     *Recorder
	boilers map[string]*model.Boiler
	sources []model.Source
	devices []*device
	byName  map[string]*device
	servers []*server
	realT0  time.Time
	anchor  time.Time  // SetAnchor: the real time at which simulated time is the start
	catchUp bool       // SetCatchUp: simulated time never passes real time
	truth   *Truth     // SetTruth (truth.go): ground truth, or nil
	mu      sync.Mutex // serializes stepping the models and refreshing the banks
	faultMu sync.Mutex // serializes reconcile
}

// New builds the models and devices of a scenario; rec may be nil.
func New(sc *Scenario, rec *Recorder, log *slog.Logger) (*Simulator, error) {
	s := &Simulator{sc: sc, log: log, rec: rec, boilers: map[string]*model.Boiler{}, byName: map[string]*device{}}
	for i, b := range sc.Boilers {
		m, err := model.NewBoiler(b.params(), sc.Seed+uint64(i)*7919, sc.Start.Time)
		if err != nil {
			return nil, fmt.Errorf("boiler %s: %w", b.Name, err)
		}
		s.boilers[b.Name] = m
		s.sources = append(s.sources, m) // boilers step before the meters that read them
	}
	for _, cfg := range sc.Servers {
		srv := &server{cfg: cfg}
		srv.mb = mbserver.NewServer(mbserver.Options{
			Logger: log.With("server", cfg.Protocol+" "+srvName(cfg)),
			Hook: func(req mbserver.Request) mbserver.Action {
				if d := srv.units[req.Unit]; d != nil {
					d.requests.Add(1)
					return d.action(req, time.Now())
				}
				return mbserver.Action{}
			},
		})
		for _, dc := range cfg.Devices {
			src, err := s.source(dc)
			if err != nil {
				return nil, fmt.Errorf("device %s: %w", dc.Name, err)
			}
			s.sources = append(s.sources, src)
			d := newDevice(dc, src, rec, log)
			d.srv = srv
			s.devices = append(s.devices, d)
			s.byName[dc.Name] = d
			srv.devices = append(srv.devices, d)
			srv.units[dc.UnitID] = d
			srv.mb.SetDevice(uint8(dc.UnitID), d)
		}
		s.servers = append(s.servers, srv)
	}
	s.step(sc.Start.Time, time.Now())
	return s, nil
}

func srvName(c Server) string {
	if c.Protocol == ProtocolRTU {
		return c.Device
	}
	return c.Listen
}

// seed derives a device's noise seed from the scenario's and its name, so
// adding a device does not change the others' noise.
func (s *Simulator) seed(name string) uint64 {
	h := fnv.New64a()
	io.WriteString(h, name)
	return s.sc.Seed ^ h.Sum64()
}

// source picks the model behind a device by its profile's class.
func (s *Simulator) source(dc Device) (model.Source, error) {
	b := s.boilers[dc.Boiler] // nil without a boiler
	p := model.MeterParams{Boiler: b, Rated: dc.Rated, Seed: s.seed(dc.Name), Start: s.sc.Start.Time}
	if dc.Load != nil {
		p.Load = model.DailyLoad{Base: dc.Load.Base, Amplitude: dc.Load.Amplitude, PeakHour: dc.Load.PeakHour}
	}
	switch class := dc.Spec.Class; {
	case class == "electricity_meter":
		return model.NewElectricityMeter(p), nil
	case class == "steam_meter":
		return model.NewSteamMeter(p), nil
	case class == "heat_meter":
		return model.NewHeatMeter(p), nil
	case class == "gas_meter":
		return model.NewGasMeter(p), nil
	case class == "water_meter":
		return model.NewWaterMeter(p), nil
	case class == "o2_analyzer" && b != nil:
		return model.NewO2Analyzer(b, p.Seed, s.sc.Start.Time), nil
	case b != nil:
		// boiler, plc, coal_scale: the boiler's own instruments.
		return model.NewBoilerInstruments(b, p.Seed, s.sc.Start.Time), nil
	default:
		return nil, fmt.Errorf("class %s needs a boiler", class)
	}
}

// Listen opens every server's port or serial device; the addresses are
// known after it. The simulation starts here: simulated time and the
// scenario's faults count from this moment.
func (s *Simulator) Listen() error {
	for _, srv := range s.servers {
		var err error
		if srv.cfg.Protocol == ProtocolRTU {
			srv.port, err = openSerial(srv.cfg.Device, srv.cfg.Baud, srv.cfg.Parity)
		} else {
			srv.ln, err = net.Listen("tcp", srv.cfg.Listen)
		}
		if err != nil {
			s.closePorts()
			return fmt.Errorf("simulator: %s server %s: %w", srv.cfg.Protocol, srvName(srv.cfg), err)
		}
	}
	// Simulated time and the scenario's faults count from here, or from
	// the anchor shared with a gateway's -clock.
	s.realT0 = time.Now()
	if !s.anchor.IsZero() {
		s.realT0 = s.anchor
	}
	for _, d := range s.devices {
		d.faults.place(s.realT0)
	}
	return nil
}

func (s *Simulator) closePorts() {
	for _, srv := range s.servers {
		if srv.ln != nil {
			srv.ln.Close()
		}
		if srv.port != nil {
			srv.port.Close()
		}
	}
}

// Addrs are the bound addresses (or serial devices), in scenario order.
func (s *Simulator) Addrs() []string {
	out := make([]string, len(s.servers))
	for i, srv := range s.servers {
		out[i] = srv.address()
	}
	return out
}

// Describe writes what the simulator serves.
func (s *Simulator) Describe(w io.Writer) {
	for _, srv := range s.servers {
		switch srv.cfg.Protocol {
		case ProtocolRTU:
			gap := srv.cfg.FrameGap.Duration
			if gap == 0 {
				gap = mbserver.FrameGap(srv.cfg.Baud)
			}
			fmt.Fprintf(w, "modbus rtu %s, %d baud, 8%c1, frame gap %v\n", srv.address(), srv.cfg.Baud, strings.ToUpper(srv.cfg.Parity)[0], gap)
		default:
			fmt.Fprintf(w, "modbus %s %s\n", srv.cfg.Protocol, srv.address())
		}
		for _, d := range srv.devices {
			drive := "own model"
			if d.cfg.Boiler != "" {
				drive = "driven by boiler " + d.cfg.Boiler
			}
			holes := ""
			if d.cfg.Holes == HolesZero {
				holes = ", holes read as zero"
			}
			fmt.Fprintf(w, "  unit %3d  %-12s profile %s (%s, %d points), %s%s\n",
				d.cfg.UnitID, d.cfg.Name, d.cfg.Spec.Name, d.cfg.Spec.Class, len(d.cfg.Spec.Points), drive, holes)
			for _, f := range d.cfg.Faults {
				fmt.Fprintf(w, "            fault %s\n", describeFault(f))
			}
		}
	}
	fmt.Fprintf(w, "time: simulated start %s, acceleration ×%g, update every %s\n", s.sc.Start.Format(time.RFC3339), s.sc.Acceleration, s.sc.Update.Duration)
}

func describeFault(f FaultSpec) string {
	var b strings.Builder
	b.WriteString(f.Kind)
	for _, kv := range []struct {
		name string
		d    conf.Duration
	}{{"delay", f.Delay}, {"gap", f.Gap}, {"duration", f.Duration}} {
		if kv.d.IsSet() {
			fmt.Fprintf(&b, " %s %s", kv.name, kv.d.Duration)
		}
	}
	if f.Code != 0 {
		fmt.Fprintf(&b, " code %d", f.Code)
	}
	if f.Pieces != 0 {
		fmt.Fprintf(&b, " pieces %d", f.Pieces)
	}
	if f.Count != 0 {
		fmt.Fprintf(&b, ", %d requests", f.Count)
	}
	if f.Probability != 0 {
		fmt.Fprintf(&b, ", probability %g", f.Probability)
	}
	fmt.Fprintf(&b, ", from +%s", f.Start.Duration)
	if f.Stop.IsSet() {
		fmt.Fprintf(&b, " to +%s", f.Stop.Duration)
	}
	return b.String()
}

// SetAnchor fixes the real time at which simulated time is the scenario's
// start (sim time = start + (real − anchor) × acceleration), so that a
// gateway given the same anchor stamps its samples in simulated time. Call
// it before Listen.
func (s *Simulator) SetAnchor(anchor time.Time) { s.anchor = anchor }

// SetCatchUp makes simulated time stop at real time once it reaches it: an
// accelerated run from a start in the past fills the history up to now,
// then goes on in real time (a gateway's -clock takes catch_up=true).
// Call it before Listen.
func (s *Simulator) SetCatchUp(on bool) { s.catchUp = on }

// SimTime maps a real time to simulated time (the start, before Run).
func (s *Simulator) SimTime(real time.Time) time.Time {
	if s.realT0.IsZero() {
		return s.sc.Start.Time
	}
	el := real.Sub(s.realT0)
	t := s.sc.Start.Add(time.Duration(float64(el) * s.sc.Acceleration))
	if s.catchUp && t.After(real) {
		return real
	}
	return t
}

// step advances the models to simulated time t and refreshes the banks
// with the device faults in force at real time now.
func (s *Simulator) step(t, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, src := range s.sources {
		src.Step(t)
	}
	for _, d := range s.devices {
		d.refresh(d.source.Quantities(), now)
	}
	if s.truth != nil {
		s.truth.observe(t)
	}
}

// Run serves until ctx is done. Listen must have been called; Run closes
// what Listen opened.
func (s *Simulator) Run(ctx context.Context) error {
	s.reconcile(time.Now())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	errs := make(chan error, len(s.servers))
	for _, srv := range s.servers {
		wg.Go(func() {
			var err error
			switch srv.cfg.Protocol {
			case ProtocolRTU:
				err = srv.mb.ServeRTU(ctx, srv.port, mbserver.RTUOptions{Baud: srv.cfg.Baud, FrameGap: srv.cfg.FrameGap.Duration, Name: srv.cfg.Device})
				srv.port.Close()
			case ProtocolRTUOverTCP:
				err = srv.mb.ServeRTUOverTCP(ctx, srv.ln)
			default:
				err = srv.mb.Serve(ctx, srv.ln)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	t := time.NewTicker(s.sc.Update.Duration)
	defer t.Stop()
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			return err
		case now := <-t.C:
			s.step(s.SimTime(now), now)
			s.reconcile(now)
		case <-flush.C:
			if s.rec != nil {
				if ferr := s.rec.Flush(); ferr != nil {
					s.log.Error("record", "error", ferr)
				}
			}
		}
	}
}

// reconcile logs faults coming into and out of force, drops those that
// ended and makes ports refuse connections while a refuse fault is in force.
func (s *Simulator) reconcile(now time.Time) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for _, srv := range s.servers {
		refuse := false
		for _, d := range srv.devices {
			for _, in := range d.faults.list() {
				on := in.activeAt(now)
				if on && in.f.spec.Kind == FaultRefuse {
					refuse = true
				}
				if on && !in.reported {
					in.reported = true
					if in.f.spec.Kind != FaultMeterReplacement { // logged when it happens
						s.log.Info("fault injected", append([]any{"device", d.cfg.Name}, in.logAttrs()...)...)
					}
				}
			}
			for _, in := range d.faults.remove(func(in *injected) bool { return in.ended(now) }) {
				if in.reported && in.f.spec.Kind != FaultMeterReplacement {
					s.log.Info("fault ended", "device", d.cfg.Name, "fault", in.f.spec.Kind, "injected", in.hits.Load())
				}
			}
		}
		if refuse != srv.refused {
			srv.refused = refuse
			srv.mb.Refuse(refuse)
		}
	}
}

// Boiler returns a boiler's model, for ground truth.
func (s *Simulator) Boiler(name string) *model.Boiler { return s.boilers[name] }

// ErrNoDevice is returned for a device name the scenario does not have.
var ErrNoDevice = errors.New("no such device")

// DeviceStatus describes a device and its faults, as the control API lists it.
type DeviceStatus struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Address  string `json:"address"` // host:port, or the serial device
	UnitID   int    `json:"unit_id"`
	Profile  string `json:"profile"`
	Class    string `json:"class"`
	Boiler   string `json:"boiler,omitempty"`
	Holes    string `json:"holes"`
	// Requests counts the requests to the unit since start, answered or
	// not: how a benchmark counts what a poller asks per cycle.
	Requests uint64        `json:"requests"`
	Faults   []FaultStatus `json:"faults"`
}

func (d *device) status(now time.Time) DeviceStatus {
	st := DeviceStatus{
		Name: d.cfg.Name, Protocol: d.srv.cfg.Protocol, Address: d.srv.address(), UnitID: d.cfg.UnitID,
		Profile: d.cfg.Spec.Name, Class: d.cfg.Spec.Class, Boiler: d.cfg.Boiler, Holes: d.cfg.Holes,
		Requests: d.requests.Load(), Faults: []FaultStatus{},
	}
	for _, in := range d.faults.list() {
		st.Faults = append(st.Faults, in.status(now))
	}
	return st
}

// Devices lists every device with its faults, in scenario order.
func (s *Simulator) Devices() []DeviceStatus {
	now := time.Now()
	out := make([]DeviceStatus, len(s.devices))
	for i, d := range s.devices {
		out[i] = d.status(now)
	}
	return out
}

// Device describes one device.
func (s *Simulator) Device(name string) (DeviceStatus, error) {
	d := s.byName[name]
	if d == nil {
		return DeviceStatus{}, fmt.Errorf("device %q: %w", name, ErrNoDevice)
	}
	return d.status(time.Now()), nil
}

// SetFault injects a fault into a device from now on (Start and Stop count
// from now), replacing any fault of the same kind it has.
func (s *Simulator) SetFault(name string, spec FaultSpec) (FaultStatus, error) {
	d := s.byName[name]
	if d == nil {
		return FaultStatus{}, fmt.Errorf("device %q: %w", name, ErrNoDevice)
	}
	f, err := spec.parse(d.srv.cfg.Protocol)
	if err != nil {
		return FaultStatus{}, fmt.Errorf("device %s: fault: %w", name, err)
	}
	now := time.Now()
	in := d.faults.add(f, now, true)
	s.log.Info("fault set", append([]any{"device", name, "from", in.from.Format(time.RFC3339Nano)}, in.logAttrs()...)...)
	s.reconcile(now)
	if in.f.spec.Kind == FaultStuck || in.f.spec.Kind == FaultMeterReplacement || in.f.spec.Kind == FaultPowerCycle {
		// Device faults act on the next refresh; do it now, so the next
		// read already sees them.
		s.step(s.SimTime(now), now)
	}
	return in.status(now), nil
}

// ClearFaults removes a device's faults of kind, or all with kind "". It
// returns how many it removed.
func (s *Simulator) ClearFaults(name, kind string) (int, error) {
	d := s.byName[name]
	if d == nil {
		return 0, fmt.Errorf("device %q: %w", name, ErrNoDevice)
	}
	gone := d.faults.remove(func(in *injected) bool { return kind == "" || in.f.spec.Kind == kind })
	for _, in := range gone {
		s.log.Info("fault cleared", "device", name, "fault", in.f.spec.Kind, "injected", in.hits.Load())
	}
	now := time.Now()
	s.reconcile(now)
	s.step(s.SimTime(now), now)
	return len(gone), nil
}
