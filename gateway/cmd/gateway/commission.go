package main

// gateway read and gateway scan: commissioning on the edge box, without
// the broker or the queue (gateway/commission).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/commission"
	"github.com/boilerwatch/boilerwatch/gateway/plan"
)

// subcommands run instead of the gateway when named first on the command line.
var subcommands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"read": runRead,
	"scan": runScan,
}

// subcommandUsage is the subcommands' part of gateway -h.
const subcommandUsage = `       gateway read -config FILE -device NAME [-json]
       gateway read -address HOST:PORT | -port /dev/ttyUSB0 -unit N -register holding -start A [-count C] [-type T -order O] [-json]
       gateway scan -address HOST:PORT | -port /dev/ttyUSB0 [-units 1-247] [-timeout 200ms] [-json]

Commissioning (no broker needed; gateway read -h, gateway scan -h for every flag):
  read -device  reads one configured device once with its profile: each point's register and
                address, raw registers, value, unit, quality and error; values outside a point's
                range are flagged with the byte order (or scale) that would fit
  read -start   reads raw registers like mbpoll, in every interpretation (u16, i16; u32, i32,
                float32 in ABCD, CDAB, BADC, DCBA), or as one -type in one -order
  scan          finds the unit ids that answer on a bus, in bounded time, and names the library
                profiles that fit each one (model registers, plausible ranges)
`

// lineFlags are the flags that say where a device is, shared by read and scan.
type lineFlags struct {
	address, port, transport, parity string
	baud, dataBits, stopBits         int
}

func (l *lineFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.address, "address", "", "device or serial server `host:port` (Modbus TCP, or RTU over TCP with -transport rtu-over-tcp)")
	fs.StringVar(&l.port, "port", "", "serial `device` for Modbus RTU, e.g. /dev/ttyUSB0")
	fs.StringVar(&l.transport, "transport", "", "`tcp`, rtu-over-tcp or rtu (default: tcp with -address, rtu with -port)")
	fs.IntVar(&l.baud, "baud", 9600, "serial speed")
	fs.StringVar(&l.parity, "parity", "none", "serial parity: none, even, odd")
	fs.IntVar(&l.dataBits, "data-bits", 8, "serial data bits: 8 (7 on odd old equipment)")
	fs.IntVar(&l.stopBits, "stop-bits", 1, "serial stop bits: 1 or 2")
}

// bus resolves the flags into a bus, as a gateway config would.
func (l *lineFlags) bus() (fwconfig.Bus, error) {
	switch {
	case l.address != "" && l.port != "":
		return fwconfig.Bus{}, errors.New("give -address (TCP) or -port (serial), not both")
	case l.address == "" && l.port == "":
		return fwconfig.Bus{}, errors.New("give -address HOST:PORT or -port /dev/ttyUSB0")
	}
	t := fwconfig.Transport(l.transport)
	if t == "" {
		t = fwconfig.TCP
		if l.port != "" {
			t = fwconfig.RTU
		}
	}
	switch t {
	case fwconfig.TCP, fwconfig.RTUOverTCP:
		if l.address == "" {
			return fwconfig.Bus{}, fmt.Errorf("-transport %s needs -address HOST:PORT", t)
		}
		return fwconfig.Bus{Key: string(t) + "://" + l.address, Transport: t, Address: l.address}, nil
	case fwconfig.RTU:
		if l.port == "" {
			return fwconfig.Bus{}, errors.New("-transport rtu needs -port /dev/ttyUSB0")
		}
	default:
		return fwconfig.Bus{}, fmt.Errorf("-transport %q: one of tcp, rtu, rtu-over-tcp", l.transport)
	}
	parity := map[string]string{"none": "none", "n": "none", "even": "even", "e": "even", "odd": "odd", "o": "odd"}[strings.ToLower(l.parity)]
	switch {
	case parity == "":
		return fwconfig.Bus{}, fmt.Errorf("-parity %q: one of none, even, odd", l.parity)
	case l.dataBits != 7 && l.dataBits != 8:
		return fwconfig.Bus{}, fmt.Errorf("-data-bits %d: 8 (or 7)", l.dataBits)
	case l.stopBits != 1 && l.stopBits != 2:
		return fwconfig.Bus{}, fmt.Errorf("-stop-bits %d: 1 or 2", l.stopBits)
	}
	return fwconfig.Bus{Key: "rtu://" + l.port, Transport: fwconfig.RTU, Address: l.port,
		Baud: l.baud, Parity: parity, DataBits: l.dataBits, StopBits: l.stopBits}, nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// runRead is gateway read. Exit status: 0 every point good, 1 a point bad
// or suspect (or the raw read failed), 2 a usage error.
func runRead(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway read", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "/etc/boilerwatch/gateway.yaml", "gateway configuration `file`, with -device")
	device := fs.String("device", "", "read this configured device once with its profile")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	var line lineFlags
	line.register(fs)
	unit := fs.Int("unit", 1, "unit id (slave address)")
	register := fs.String("register", "holding", "table: holding, input, coil or discrete")
	start := fs.String("start", "", "first 0-based protocol `address`, decimal or hex (0x2006)")
	count := fs.Int("count", 2, "registers (or bits) to read, 1..125 (2000 bits)")
	typ := fs.String("type", "", "show only this `type`: uint16, int16, uint32, int32, float32, uint64, int64, float64, bcd16, bcd32, string")
	order := fs.String("order", "", "byte `order` for -type: ABCD (default), CDAB, BADC, DCBA")
	timeout := fs.Duration("timeout", time.Second, "per request")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: gateway read -config FILE -device NAME [-json]
       gateway read -address HOST:PORT | -port DEV [serial flags] -unit N -register T -start A [-count C] [-type T -order O] [-json]

With -device, reads every point of a configured device once, as the gateway would plan it, and prints
point, register and address (hex and decimal), raw registers, value, unit, quality (good, suspect:
outside the point's range, bad) and the error or a hint ("likely wrong byte order: CDAB gives 229.8 V").
Otherwise reads raw registers and shows them in every interpretation. Exit status 1 when a point is
bad or suspect, or the read failed.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signalContext()
	defer stop()
	if *device != "" {
		return readDevice(ctx, *configPath, *device, *asJSON, stdout, stderr)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if line.address == "" && line.port == "" {
		fmt.Fprintln(stderr, "gateway read: give -device NAME (with -config), or -address/-port with -start")
		return 2
	}
	if set["config"] {
		fmt.Fprintln(stderr, "gateway read: -config goes with -device")
		return 2
	}
	b, err := line.bus()
	if err != nil {
		fmt.Fprintln(stderr, "gateway read:", err)
		return 2
	}
	rt := profile.RegisterType(*register)
	switch rt {
	case profile.Holding, profile.Input, profile.Coil, profile.Discrete:
	default:
		fmt.Fprintf(stderr, "gateway read: -register %q: one of holding, input, coil, discrete\n", *register)
		return 2
	}
	if *start == "" {
		fmt.Fprintln(stderr, "gateway read: -start ADDRESS is needed (the 0-based protocol address, decimal or 0x hex)")
		return 2
	}
	addr, err := commission.ParseAddress(*start)
	if err != nil {
		fmt.Fprintln(stderr, "gateway read: -start:", err)
		return 2
	}
	limit := fwconfig.MaxReadRegisters
	if rt.IsBit() {
		limit = fwconfig.MaxReadBits
	}
	if *count < 1 || *count > limit || addr+*count > 65536 {
		fmt.Fprintf(stderr, "gateway read: -count %d: 1..%d, not past address 65535\n", *count, limit)
		return 2
	}
	if *unit < 0 || *unit > 255 {
		fmt.Fprintf(stderr, "gateway read: -unit %d: 0..255 (1..247 on a serial line)\n", *unit)
		return 2
	}
	rep := &commission.RawReport{Bus: b.Key, Unit: *unit, Register: rt, Start: addr}
	if *typ != "" {
		if rt.IsBit() {
			fmt.Fprintln(stderr, "gateway read: -type applies to holding and input registers")
			return 2
		}
		n, err := commission.TypeWords(profile.DataType(*typ), *count)
		if err != nil {
			fmt.Fprintln(stderr, "gateway read: -type:", err)
			return 2
		}
		if *count < n {
			fmt.Fprintf(stderr, "gateway read: a %s spans %d registers: -count %d is too few\n", *typ, n, *count)
			return 2
		}
		rep.Type = profile.DataType(*typ)
	}
	if *order != "" {
		if !isOrder(*order) {
			fmt.Fprintf(stderr, "gateway read: -order %q: one of ABCD, CDAB, BADC, DCBA\n", *order)
			return 2
		}
		if *typ == "" {
			fmt.Fprintln(stderr, "gateway read: -order goes with -type")
			return 2
		}
		rep.Order = strings.ToUpper(*order)
	}
	if hint := commission.ModiconHint(rt, addr); hint != "" {
		fmt.Fprintln(stderr, "note:", hint)
	}
	bs, err := commission.StartBus(ctx, b, *timeout)
	if err != nil {
		fmt.Fprintln(stderr, "gateway read:", err)
		return 2
	}
	t0 := time.Now()
	words, _, err := bs.Read(ctx, byte(*unit), rt, addr, *count, *timeout)
	rep.Took = time.Since(t0)
	if err != nil {
		fmt.Fprintf(stderr, "gateway read: %s unit %d %s 0x%04X (%d) count %d: %s\n", b.Key, *unit, rt, addr, addr, *count, commission.ErrorText(err))
		return 1
	}
	rep.Words = words
	if *asJSON {
		rep.WriteJSON(stdout)
	} else {
		rep.WriteText(stdout)
	}
	return 0
}

func isOrder(s string) bool {
	switch strings.ToUpper(s) {
	case "ABCD", "CDAB", "BADC", "DCBA":
		return true
	}
	return false
}

func readDevice(ctx context.Context, configPath, name string, asJSON bool, stdout, stderr io.Writer) int {
	cfg, err := fwconfig.LoadGateway(configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	var dev *fwconfig.Device
	var names []string
	for i := range cfg.Devices {
		names = append(names, cfg.Devices[i].Name)
		if cfg.Devices[i].Name == name {
			dev = &cfg.Devices[i]
		}
	}
	if dev == nil {
		fmt.Fprintf(stderr, "gateway read: no device %q in %s (devices: %s)\n", name, configPath, strings.Join(names, ", "))
		return 2
	}
	// Plan around the holes the running gateway learned, as it polls.
	learned, err := plan.LoadLearned(plan.LearnedPath(cfg.Queue.Dir))
	if err != nil {
		fmt.Fprintln(stderr, "gateway read: learned holes not read:", err)
	}
	b, err := commission.StartBus(ctx, dev.Bus, dev.Timeout.Duration)
	if err != nil {
		fmt.Fprintln(stderr, "gateway read:", err)
		return 2
	}
	rep := commission.ReadDevice(ctx, b, dev, learned.Holes(dev.Name, dev.Spec.Name)...)
	if asJSON {
		rep.WriteJSON(stdout)
	} else {
		rep.WriteText(stdout)
	}
	if _, suspect, bad := rep.Counts(); suspect+bad > 0 {
		return 1
	}
	return 0
}

// profileDirs collects repeated -profile-dir flags.
type profileDirs []string

func (p *profileDirs) String() string     { return strings.Join(*p, ",") }
func (p *profileDirs) Set(s string) error { *p = append(*p, s); return nil }

// runScan is gateway scan. Exit status: 0 a unit answered, 1 none did or
// the bus could not be reached, 2 a usage error.
func runScan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var line lineFlags
	line.register(fs)
	units := fs.String("units", "1-247", "unit ids to ask: 1-247, or 1,2,10-20")
	timeout := fs.Duration("timeout", 200*time.Millisecond, "how long each unit id is given to answer")
	concurrency := fs.Int("concurrency", 1, "unit ids asked at once, each over its own connection (Modbus TCP only; a serial line is always 1)")
	probe := fs.String("probe", "holding:0", "register asked to see whether a unit is there, `table:address`; any answer counts, an exception too")
	var dirs profileDirs
	fs.Var(&dirs, "profile-dir", "extra profile `folder` beside the built-in library (repeatable)")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: gateway scan -address HOST:PORT | -port DEV [serial flags] [-units 1-247] [-timeout 200ms] [-json]

Asks every unit id once and lists those that answer (an exception is an answer; exception 10 or 11
from a TCP gateway is not), then tries each library profile that declares an identification (model
registers in identify:, or points with a range) on them and names those that fit, best first. Time
is bounded: at most one timeout per silent unit (two on RTU framing, where the line must fall silent
again), printed before and after. Exit status 1 when no unit answered or the bus cannot be reached.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	b, err := line.bus()
	if err != nil {
		fmt.Fprintln(stderr, "gateway scan:", err)
		return 2
	}
	maxUnit := 255
	if b.Transport != fwconfig.TCP {
		maxUnit = 247
	}
	us, err := commission.ParseUnits(*units, maxUnit)
	if err != nil {
		fmt.Fprintln(stderr, "gateway scan: -units:", err)
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "gateway scan: -timeout must be positive")
		return 2
	}
	table, at, _ := strings.Cut(*probe, ":")
	pr := profile.RegisterType(table)
	pa, err := commission.ParseAddress(at)
	if err != nil || (pr != profile.Holding && pr != profile.Input && pr != profile.Coil && pr != profile.Discrete) {
		fmt.Fprintf(stderr, "gateway scan: -probe %q: want table:address, e.g. holding:0 or input:0x7531\n", *probe)
		return 2
	}
	lib, err := profile.LoadLibrary(dirs...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	o := commission.ScanOptions{Bus: b, Units: us, Timeout: *timeout, Concurrency: *concurrency, Probe: pr, ProbeAddress: pa, Library: lib}
	if b.Transport != fwconfig.TCP && *concurrency > 1 {
		fmt.Fprintf(stderr, "note: %s carries one request at a time: scanning one unit id at a time\n", b.Transport)
		o.Concurrency = 1
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "scanning %s units %s, timeout %s, %d at a time: probes take at most %s, plus identifying the units that answer\n",
			b.Key, commission.Ranges(us), *timeout, max(1, o.Concurrency), commission.ProbeBound(o).Round(time.Millisecond))
	}
	ctx, stop := signalContext()
	defer stop()
	res, err := commission.Scan(ctx, o)
	if err != nil && res == nil {
		fmt.Fprintln(stderr, "gateway scan:", err)
		return 1
	}
	if *asJSON {
		res.WriteJSON(stdout)
	} else {
		res.WriteText(stdout, us)
	}
	if err != nil {
		fmt.Fprintln(stderr, "gateway scan:", err)
		if errors.Is(err, commission.ErrUnreachable) {
			fmt.Fprintln(stderr, "  nothing could be asked: check the address and port (or the serial device) and that the device or serial server is powered")
		}
		return 1
	}
	for _, u := range res.Units {
		if u.Answered {
			return 0
		}
	}
	fmt.Fprintln(stderr, "gateway scan: no unit id answered: check wiring (A/B swapped?), serial settings, the unit ids and the timeout")
	return 1
}
