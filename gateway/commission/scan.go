package commission

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/bus"
	"github.com/boilerwatch/boilerwatch/gateway/plan"
)

// ParseUnits reads a unit id list: 1-247, or 1,2,5-9.
func ParseUnits(s string, max int) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 0 || b > max || a > b {
			return nil, fmt.Errorf("%q: want unit ids 0..%d such as 1-247 or 1,2,10-20", part, max)
		}
		for u := a; u <= b; u++ {
			if !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
	}
	return out, nil
}

// ScanOptions say where and how to scan.
type ScanOptions struct {
	Bus     fwconfig.Bus
	Units   []int
	Timeout time.Duration
	// Concurrency is how many units are asked at once, each over its own
	// connection; only Modbus TCP can: a serial line (rtu, rtu-over-tcp)
	// carries one request at a time.
	Concurrency int
	// Probe is the register asked to find out whether a unit is there;
	// any answer, an exception included, means it is.
	Probe        profile.RegisterType
	ProbeAddress int
	Library      profile.Library
	// Progress, if set, is told of each unit as it is done.
	Progress func(u UnitResult)
}

// UnitResult is what the scan learned about one unit id.
type UnitResult struct {
	Unit     int         `json:"unit"`
	Answered bool        `json:"answered"`
	Probe    string      `json:"probe"` // what the probe read returned
	Matches  []Candidate `json:"profiles,omitempty"`
	// RuledOut lists the identifiable profiles that do not fit, with why.
	RuledOut []Candidate `json:"ruled_out,omitempty"`
}

// Candidate is a library profile judged against a unit.
type Candidate struct {
	Profile string `json:"profile"`
	// Verdict: identified (its model registers hold the expected values),
	// plausible (every range point reads inside its range), byte order X
	// (plausible in another byte order), or why it does not fit.
	Verdict  string   `json:"verdict"`
	Evidence []string `json:"evidence,omitempty"`
	Score    int      `json:"score"`
}

// ScanResult is a whole scan.
type ScanResult struct {
	Bus         string        `json:"bus"`
	Units       []UnitResult  `json:"units"`
	Scanned     int           `json:"scanned"`
	Took        time.Duration `json:"-"`
	TookS       float64       `json:"took_s"`
	Bound       time.Duration `json:"-"`
	BoundS      float64       `json:"bound_s"`
	Concurrency int           `json:"concurrency"`
}

// ProbeBound is the longest the probes can take: each silent unit costs
// the timeout, and on RTU framing the line must then stay silent for
// another timeout before the next request (see gateway/bus).
func ProbeBound(o ScanOptions) time.Duration {
	per := o.Timeout + o.Bus.RequestGap + o.Bus.UnitGap + 20*time.Millisecond
	if o.Bus.Transport != fwconfig.TCP {
		per += o.Timeout
	}
	c := max(o.Concurrency, 1)
	rounds := (len(o.Units) + c - 1) / c
	return time.Duration(rounds)*per + o.Bus.ConnectPause
}

// ErrUnreachable means nothing could be asked at all (a refused TCP
// connection, a serial port that does not open).
var ErrUnreachable = errors.New("cannot reach the bus")

// Scan asks every unit id once, then tries the identifiable library
// profiles on those that answered. A refused connection or a port that
// does not open stops it at once with ErrUnreachable.
func Scan(ctx context.Context, o ScanOptions) (*ScanResult, error) {
	if o.Bus.Transport != fwconfig.TCP {
		o.Concurrency = 1
	}
	o.Concurrency = min(max(o.Concurrency, 1), max(len(o.Units), 1))
	if o.Probe == "" {
		o.Probe = profile.Holding
	}
	res := &ScanResult{Bus: o.Bus.Key, Concurrency: o.Concurrency, Bound: ProbeBound(o)}
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	units := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range o.Concurrency {
		b, err := StartBus(ctx, o.Bus, o.Timeout)
		if err != nil {
			return nil, err
		}
		wg.Go(func() {
			for u := range units {
				ur, err := scanUnit(ctx, b, u, o)
				if err != nil {
					cancel(err)
					continue
				}
				mu.Lock()
				res.Scanned++
				res.Units = append(res.Units, ur)
				mu.Unlock()
				if o.Progress != nil {
					o.Progress(ur)
				}
			}
		})
	}
feed:
	for _, u := range o.Units {
		select {
		case units <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(units)
	wg.Wait()
	res.Took = time.Since(start)
	res.TookS, res.BoundS = res.Took.Seconds(), res.Bound.Seconds()
	slices.SortFunc(res.Units, func(a, b UnitResult) int { return a.Unit - b.Unit })
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return res, err
	}
	return res, ctx.Err()
}

func scanUnit(ctx context.Context, b *bus.Bus, unit int, o ScanOptions) (UnitResult, error) {
	ur := UnitResult{Unit: unit}
	words, _, err := b.Read(ctx, byte(unit), o.Probe, o.ProbeAddress, 1, o.Timeout)
	probe := fmt.Sprintf("%s %d", o.Probe, o.ProbeAddress)
	switch code, isExc := bus.ExceptionCode(err); {
	case err == nil:
		ur.Answered = true
		ur.Probe = fmt.Sprintf("%s = 0x%04X", probe, words[0])
	case isExc && (code == 10 || code == 11):
		// A Modbus TCP gateway answering for a unit behind it that is not there.
		ur.Probe = fmt.Sprintf("%s: %s", probe, ExceptionText(code))
	case isExc:
		ur.Answered = true
		ur.Probe = fmt.Sprintf("%s: %s", probe, ExceptionText(code))
	case errors.Is(err, bus.ErrConnect):
		return ur, fmt.Errorf("%w %s: %s", ErrUnreachable, o.Bus.Key, ErrorText(err))
	case ctx.Err() != nil:
		return ur, ctx.Err()
	default:
		ur.Probe = fmt.Sprintf("%s: %s", probe, ErrorText(err))
	}
	if !ur.Answered {
		return ur, nil
	}
	for _, name := range o.Library.Names() {
		p := o.Library[name]
		if !p.Identifiable() {
			continue
		}
		c := judge(ctx, b, unit, p, o.Timeout)
		if c.Score > 0 {
			ur.Matches = append(ur.Matches, c)
		} else {
			ur.RuledOut = append(ur.RuledOut, c)
		}
	}
	slices.SortStableFunc(ur.Matches, func(a, b Candidate) int { return cmp.Compare(b.Score, a.Score) })
	return ur, nil
}

// judge reads a profile's identification from the unit: its match
// registers first (any mismatch rules it out), then its range points.
func judge(ctx context.Context, r Reader, unit int, p *profile.Profile, timeout time.Duration) Candidate {
	c := Candidate{Profile: p.Name}
	// Nothing bridged: a device of another model refuses most addresses.
	opts := plan.Options{MaxGap: 0}
	score := 0
	if p.Identify != nil && len(p.Identify.Match) > 0 {
		var pts []*profile.Point
		for i := range p.Identify.Match {
			pts = append(pts, p.Identify.Match[i].Spec)
		}
		rd := ReadPoints(ctx, r, byte(unit), withSources(p, pts), opts, timeout)
		for i := range p.Identify.Match {
			m := &p.Identify.Match[i]
			got := rd.Get(m.Spec.Name)
			label := cmp.Or(m.Description, m.Spec.Name)
			where := fmt.Sprintf("%s 0x%04X", m.Spec.Register, m.Spec.Address)
			if got.Value.Kind == profile.KindNone {
				c.Verdict = fmt.Sprintf("%s (%s): %s", label, where, got.Reason)
				return c
			}
			if !m.Matches(got.Value) {
				c.Verdict = fmt.Sprintf("%s (%s) is %s, not %s", label, where, got.valueText(), m.Expected())
				return c
			}
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s = %s", label, got.valueText()))
		}
		score += 1000
	}
	ranged := p.RangePoints()
	if len(ranged) > 0 {
		rd := ReadPoints(ctx, r, byte(unit), withSources(p, ranged), opts, timeout)
		orders := map[string]int{}
		var fails []string
		for _, rp := range ranged {
			got := rd.Get(rp.Name)
			where := fmt.Sprintf("%s 0x%04X", rp.Register, rp.Address)
			switch {
			case got.Words == nil:
				c.Verdict = fmt.Sprintf("%s (%s): %s", rp.Name, where, got.Reason)
				return c
			case got.Check == nil:
				c.Evidence = append(c.Evidence, fmt.Sprintf("%s %s%s", rp.Name, got.valueText(), unitSuffix(rp.Unit)))
				score += 10
			case got.Check.Order != "":
				orders[got.Check.Order]++
				fails = append(fails, fmt.Sprintf("%s %s%s in %s", rp.Name, Num(*got.Check.Value), unitSuffix(rp.Unit), got.Check.Order))
			default:
				c.Verdict = fmt.Sprintf("%s (%s): %s", rp.Name, where, got.Check.Problem)
				return c
			}
		}
		if len(fails) > 0 {
			// Another byte order is named only when several points agree
			// on it: one register read in some order fits a range by chance.
			if len(orders) != 1 || len(fails) < 2 {
				c.Verdict = "implausible as written: " + strings.Join(fails, "; ")
				return c
			}
			for o := range orders {
				c.Verdict = "plausible with byte order " + o
			}
			c.Evidence = append(c.Evidence, fails...)
			c.Score = score + 1 // below any profile that fits as written
			return c
		}
	}
	switch {
	case score >= 1000:
		c.Verdict = "identified"
	default:
		c.Verdict = "plausible"
	}
	c.Score = score
	return c
}

// withSources adds the scale sources the points need.
func withSources(p *profile.Profile, pts []*profile.Point) []*profile.Point {
	out := slices.Clone(pts)
	for _, pt := range pts {
		for _, sf := range pt.ScaleFrom {
			if src := p.Point(sf.Point); src != nil && !slices.Contains(out, src) {
				out = append(out, src)
			}
		}
	}
	return out
}

// WriteText prints the scan: each unit that answered, with the profiles
// that fit it best first; the unit ids that did not; the time taken.
func (res *ScanResult) WriteText(w io.Writer, all []int) {
	var silent []int
	answered := 0
	for _, u := range res.Units {
		if !u.Answered {
			silent = append(silent, u.Unit)
			continue
		}
		answered++
		fmt.Fprintf(w, "unit %3d  answers (%s)\n", u.Unit, u.Probe)
		if len(u.Matches) == 0 {
			fmt.Fprintf(w, "          no library profile fits (%d tried)\n", len(u.RuledOut))
		}
		for _, c := range u.Matches {
			fmt.Fprintf(w, "          %-22s %s: %s\n", c.Profile, c.Verdict, strings.Join(c.Evidence, ", "))
		}
		if len(u.Matches) > 0 && len(u.RuledOut) > 0 {
			var names []string
			for _, c := range u.RuledOut {
				names = append(names, c.Profile)
			}
			fmt.Fprintf(w, "          ruled out: %s\n", strings.Join(names, ", "))
		}
	}
	if len(silent) > 0 {
		fmt.Fprintf(w, "no answer: units %s\n", Ranges(silent))
	}
	if res.Scanned < len(all) {
		fmt.Fprintf(w, "not scanned: %d of %d unit ids\n", len(all)-res.Scanned, len(all))
	}
	fmt.Fprintf(w, "scanned %d unit ids on %s in %s (probes bounded by %s, %d at a time): %d answered\n",
		res.Scanned, res.Bus, res.Took.Round(time.Millisecond), res.Bound.Round(time.Millisecond), res.Concurrency, answered)
}

// WriteJSON prints the scan as one JSON object.
func (res *ScanResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// Ranges writes sorted unit ids compactly: 3-5, 7.
func Ranges(us []int) string {
	us = slices.Sorted(slices.Values(us))
	var parts []string
	for i := 0; i < len(us); {
		j := i
		for j+1 < len(us) && us[j+1] == us[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", us[i], us[j]))
		} else {
			parts = append(parts, strconv.Itoa(us[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
