// Package commission is what an engineer needs at a gateway while wiring
// devices: read a device once with its profile and see every point's raw
// registers, value and plausibility (gateway read -device), read raw
// registers in every interpretation (gateway read -start), and find which
// unit ids answer on a bus and which library profiles fit them (gateway
// scan). Nothing here needs the broker or the queue.
package commission

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/bus"
	"github.com/boilerwatch/boilerwatch/gateway/plan"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Reader is a bus: *bus.Bus.
type Reader interface {
	Read(ctx context.Context, unit byte, register profile.RegisterType, start, count int, timeout time.Duration) ([]uint16, time.Time, error)
}

// PointResult is what one read learned about one point.
type PointResult struct {
	Point *profile.Point
	// Words are the registers read (0/1 for bits); nil when not read.
	Words []uint16
	// Value is the decoded value; KindNone when the point could not be
	// read or decoded, and Reason says why.
	Value  profile.Value
	Reason string
	// Err is the read or decode error, if any.
	Err error
	// Check is set when the point declares a range and the reading lies
	// outside it (or cannot be decoded).
	Check *Finding
}

// Quality is good, bad (no value) or suspect (a value outside the
// point's range).
func (r *PointResult) Quality() string {
	switch {
	case r.Value.Kind == profile.KindNone:
		return "bad"
	case r.Check != nil:
		return "suspect"
	}
	return "good"
}

// Finding says why a reading is implausible and what would fit.
type Finding struct {
	Problem string `json:"problem"`
	Hint    string `json:"hint,omitempty"`
	// Order is the byte order in which the registers give a value inside
	// the range, if one does.
	Order string `json:"order,omitempty"`
	// Value is what Order gives.
	Value *float64 `json:"value,omitempty"`
}

// Reading is one read of a set of points.
type Reading struct {
	Points   []PointResult
	Requests int
	Took     time.Duration
}

// Get returns the result of the named point, or nil.
func (rd *Reading) Get(name string) *PointResult {
	for i := range rd.Points {
		if rd.Points[i].Point.Name == name {
			return &rd.Points[i]
		}
	}
	return nil
}

// errNotRead marks the points of requests skipped after the device did not
// answer: each would cost another timeout.
var errNotRead = errors.New("not read: the device did not answer an earlier request")

// ReadPoints reads the points once from unit, in the requests the gateway
// would plan with o. A merged read the device refuses with exception 2 or
// 3 is read again point by point, so that every point gets its own answer;
// once the device does not answer at all, the remaining requests are not
// sent. Points with scale_from need their sources among points.
func ReadPoints(ctx context.Context, r Reader, unit byte, points []*profile.Point, o plan.Options, timeout time.Duration) *Reading {
	start := time.Now()
	rd := &Reading{Points: make([]PointResult, len(points))}
	idx := map[*profile.Point]int{}
	for i, p := range points {
		rd.Points[i].Point = p
		idx[p] = i
	}
	silent := false
	var read func(req plan.Request)
	read = func(req plan.Request) {
		if silent {
			for _, p := range req.Points {
				rd.Points[idx[p]].Err = errNotRead
			}
			return
		}
		words, _, err := r.Read(ctx, unit, req.Register, req.Start, req.Count, timeout)
		rd.Requests++
		if err == nil {
			for _, p := range req.Points {
				off := p.Address - req.Start
				rd.Points[idx[p]].Words = append([]uint16(nil), words[off:off+p.Words()]...)
			}
			return
		}
		if code, ok := bus.ExceptionCode(err); ok && (code == 2 || code == 3) && len(req.Points) > 1 {
			for _, p := range req.Points {
				read(plan.Request{Register: p.Register, Start: p.Address, Count: p.Words(), Points: []*profile.Point{p}})
			}
			return
		}
		for _, p := range req.Points {
			rd.Points[idx[p]].Err = err
		}
		if bus.NoAnswer(err) || ctx.Err() != nil {
			silent = true
		}
	}
	for _, req := range plan.BuildPoints(points, o) {
		read(req)
	}
	// Scale sources first, then the points they scale.
	for pass := range 2 {
		for i := range rd.Points {
			res := &rd.Points[i]
			if (len(res.Point.ScaleFrom) > 0) != (pass == 1) {
				continue
			}
			res.decode(rd)
		}
	}
	rd.Took = time.Since(start)
	return rd
}

func (res *PointResult) decode(rd *Reading) {
	p := res.Point
	if res.Err != nil {
		res.Reason = ErrorText(res.Err)
		return
	}
	factor, err := p.ScaleFrom.Factor(func(name string) (float64, error) {
		src := rd.Get(name)
		if src == nil {
			return 0, fmt.Errorf("not read")
		}
		if src.Value.Kind != profile.KindNumber {
			return 0, fmt.Errorf("bad: %s", src.Reason)
		}
		return src.Value.Num, nil
	})
	if err != nil {
		res.Err = err
		res.Reason = err.Error()
		return
	}
	v, err := p.DecodeWith(res.Words, factor)
	if err != nil {
		res.Err = err
		res.Reason = err.Error()
	} else {
		res.Value = v
	}
	res.Check = Check(p, res.Words, factor, v, err)
}

// Check judges a decoded reading against the point's range: nil when the
// point has none or the value lies in it. Otherwise it tries the other
// byte orders on the same registers and, failing those, a scale off by
// powers of ten, and says which gives a plausible value.
func Check(p *profile.Point, words []uint16, factor float64, v profile.Value, decodeErr error) *Finding {
	if len(p.Range) != 2 || words == nil || p.Type == profile.Bool || p.Type == profile.String || p.Register.IsBit() {
		return nil
	}
	if decodeErr == nil && v.Kind == profile.KindNumber && plausible(p, v.Num) {
		return nil
	}
	f := &Finding{}
	span := fmt.Sprintf("%s..%s%s", Num(p.Range[0]), Num(p.Range[1]), unitSuffix(p.Unit))
	if decodeErr != nil {
		f.Problem = fmt.Sprintf("no value (%v); expected %s", decodeErr, span)
	} else {
		f.Problem = fmt.Sprintf("%s%s outside %s", Num(v.Num), unitSuffix(p.Unit), span)
	}
	var fits []string
	for _, o := range otherOrders(p) {
		q, err := p.WithByteOrder(o)
		if err != nil {
			continue
		}
		w, err := q.DecodeWith(words, factor)
		if err != nil || w.Kind != profile.KindNumber || !plausible(p, w.Num) {
			continue
		}
		if f.Order == "" {
			f.Order, f.Value = o, &w.Num
		}
		fits = append(fits, fmt.Sprintf("%s gives %s%s", o, Num(w.Num), unitSuffix(p.Unit)))
	}
	if len(fits) > 0 {
		f.Hint = "likely wrong byte order: " + strings.Join(fits, ", ")
		return f
	}
	if decodeErr == nil {
		for _, k := range []int{-1, 1, -2, 2, -3, 3} {
			if w := v.Num * math.Pow10(k); p.InRange(w) {
				f.Hint = fmt.Sprintf("check scale: ×%s gives %s%s", Num(math.Pow10(k)), Num(w), unitSuffix(p.Unit))
				break
			}
		}
	}
	return f
}

// plausible: inside the point's range, and for a float not a denormal-
// like 1e-28, which misread bytes give and no instrument reports.
func plausible(p *profile.Point, v float64) bool {
	if (p.Type == profile.Float32 || p.Type == profile.Float64) && v != 0 && math.Abs(v) < 1e-9*math.Abs(p.ScaleFactor()) {
		return false
	}
	return p.InRange(v)
}

// otherOrders are the byte orders a point could be read in besides its
// own: for one register only the byte swap.
func otherOrders(p *profile.Point) []string {
	cur := p.ByteOrderName()
	if p.Words() == 1 {
		if cur == "ABCD" || cur == "CDAB" {
			return []string{"BA"}
		}
		return []string{"AB"}
	}
	var out []string
	for _, o := range []string{"ABCD", "CDAB", "BADC", "DCBA"} {
		if o != cur {
			out = append(out, o)
		}
	}
	return out
}

// OrderVerdict is the byte order most implausible points agree on.
type OrderVerdict struct {
	Profile string   `json:"profile_order"`
	Likely  string   `json:"likely_order"`
	Points  []string `json:"points"`
	// Plausible counts the points with a range that read plausibly in the
	// profile's own order.
	Plausible int `json:"plausible_as_configured"`
}

// ByteOrderVerdict looks across the points: when some points with a range
// read implausibly and all that fit in another order name the same one,
// that is likely the device's byte order. nil when nothing points there.
func (rd *Reading) ByteOrderVerdict() *OrderVerdict {
	var v *OrderVerdict
	plausible := 0
	for i := range rd.Points {
		r := &rd.Points[i]
		if len(r.Point.Range) != 2 || r.Point.Words() < 2 || r.Words == nil {
			continue
		}
		if r.Check == nil {
			if r.Value.Kind != profile.KindNone {
				plausible++
			}
			continue
		}
		if r.Check.Order == "" {
			continue
		}
		if v == nil {
			v = &OrderVerdict{Profile: r.Point.ByteOrderName(), Likely: r.Check.Order}
		} else if v.Likely != r.Check.Order || v.Profile != r.Point.ByteOrderName() {
			return nil // the points disagree: no single answer
		}
		v.Points = append(v.Points, r.Point.Name)
	}
	if v != nil {
		v.Plausible = plausible
	}
	return v
}

// ErrorText is a short reason for a failed read, without the bus prefix.
func ErrorText(err error) string {
	if err == nil {
		return ""
	}
	if code, ok := bus.ExceptionCode(err); ok {
		return ExceptionText(code)
	}
	if errors.Is(err, errNotRead) {
		return errNotRead.Error()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "no answer within the timeout"
	}
	s := err.Error()
	// bus errors read "tcp://host:port unit 2 holding 0+2: reason".
	if i := strings.Index(s, ": "); i > 0 && strings.Contains(s[:i], " unit ") {
		s = s[i+2:]
	}
	return telemetry.CleanText(s, 200)
}

// ExceptionText names a Modbus exception code.
func ExceptionText(code byte) string {
	names := map[byte]string{1: "illegal function", 2: "illegal data address", 3: "illegal data value",
		4: "server device failure", 5: "acknowledge", 6: "server device busy", 8: "memory parity error",
		10: "gateway path unavailable", 11: "gateway target device failed to respond"}
	if n, ok := names[code]; ok {
		return fmt.Sprintf("exception %d (%s)", code, n)
	}
	return fmt.Sprintf("exception %d", code)
}

// Num formats a value for people: the shortest form that reads back the
// same, up to 10 significant digits.
func Num(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	if math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	s := strconv.FormatFloat(v, 'g', 10, 64)
	if t := strconv.FormatFloat(v, 'g', -1, 64); len(t) < len(s) {
		return t
	}
	return s
}

func unitSuffix(u string) string {
	if u == "" {
		return ""
	}
	return " " + u
}
