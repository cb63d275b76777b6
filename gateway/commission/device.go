package commission

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/bus"
	"github.com/boilerwatch/boilerwatch/gateway/plan"
)

// StartBus makes and runs a bus until ctx ends.
func StartBus(ctx context.Context, cfg fwconfig.Bus, timeout time.Duration) (*bus.Bus, error) {
	b, err := bus.New(bus.Options{Bus: cfg, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	go b.Run(ctx)
	return b, nil
}

// DeviceReport is one read of a configured device with its profile.
type DeviceReport struct {
	Device  string
	Profile *profile.Profile
	Bus     string
	Unit    int
	Reading *Reading
	Verdict *OrderVerdict
}

// ReadDevice reads every point of a configured device once, planned as the
// gateway plans it (with the learned holes given).
func ReadDevice(ctx context.Context, r Reader, d *fwconfig.Device, learned ...plan.Span) *DeviceReport {
	points := make([]*profile.Point, len(d.Spec.Points))
	for i := range d.Spec.Points {
		points[i] = &d.Spec.Points[i]
	}
	rd := ReadPoints(ctx, r, byte(d.UnitID), points, plan.DeviceOptions(d, learned...), d.Timeout.Duration)
	return &DeviceReport{Device: d.Name, Profile: d.Spec, Bus: d.Bus.Key, Unit: d.UnitID, Reading: rd, Verdict: rd.ByteOrderVerdict()}
}

// Counts are the points by quality.
func (rep *DeviceReport) Counts() (good, suspect, bad int) {
	for i := range rep.Reading.Points {
		switch rep.Reading.Points[i].Quality() {
		case "good":
			good++
		case "suspect":
			suspect++
		default:
			bad++
		}
	}
	return
}

// WriteText prints the report as a table: point, register, address (hex
// and decimal), raw registers, value, unit, quality, and the error or
// plausibility note; then the byte order verdict, if any.
func (rep *DeviceReport) WriteText(w io.Writer) {
	rd := rep.Reading
	fmt.Fprintf(w, "device %s (%s) on %s unit %d: %s in %s\n", rep.Device, rep.Profile.Name, rep.Bus, rep.Unit,
		plural(rd.Requests, "request"), rd.Took.Round(100*time.Microsecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POINT\tREGISTER\tADDRESS\tRAW\tVALUE\tUNIT\tQUALITY\tERROR / NOTE")
	for i := range rd.Points {
		r := &rd.Points[i]
		p := r.Point
		value, note := "-", ""
		if r.Value.Kind != profile.KindNone {
			value = r.valueText()
		} else {
			note = r.Reason
		}
		if r.Check != nil {
			note = r.Check.Problem
			if r.Check.Hint != "" {
				note += "; " + r.Check.Hint
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t0x%04X (%d)\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Register, p.Address, p.Address,
			rawText(r.Words, p.Register.IsBit()), value, dash(p.Unit), r.Quality(), note)
	}
	tw.Flush()
	good, suspect, bad := rep.Counts()
	fmt.Fprintf(w, "%d good, %d suspect, %d bad\n", good, suspect, bad)
	if v := rep.Verdict; v != nil {
		fmt.Fprintf(w, "byte order: %s read implausibly as %s (the profile's order) and plausibly as %s; "+
			"the device likely uses byte_order %s: check its manual, then set it in the profile (or a copy in profile_dirs)\n",
			strings.Join(v.Points, ", "), v.Profile, v.Likely, v.Likely)
	}
}

// JSON shapes of gateway read -json.
type jsonPoint struct {
	Name       string    `json:"name"`
	Register   string    `json:"register"`
	Address    int       `json:"address"`
	AddressHex string    `json:"address_hex"`
	Type       string    `json:"type"`
	ByteOrder  string    `json:"byte_order"`
	Raw        []string  `json:"raw"`
	Value      any       `json:"value"`
	Unit       string    `json:"unit,omitempty"`
	Quality    string    `json:"quality"`
	Error      string    `json:"error,omitempty"`
	Range      []float64 `json:"range,omitempty"`
	Check      *Finding  `json:"check,omitempty"`
}

type jsonDevice struct {
	Device    string        `json:"device"`
	Profile   string        `json:"profile"`
	Bus       string        `json:"bus"`
	Unit      int           `json:"unit"`
	Requests  int           `json:"requests"`
	TookMS    float64       `json:"took_ms"`
	Good      int           `json:"good"`
	Suspect   int           `json:"suspect"`
	Bad       int           `json:"bad"`
	Points    []jsonPoint   `json:"points"`
	ByteOrder *OrderVerdict `json:"byte_order,omitempty"`
}

// WriteJSON prints the report as one JSON object.
func (rep *DeviceReport) WriteJSON(w io.Writer) error {
	rd := rep.Reading
	out := jsonDevice{Device: rep.Device, Profile: rep.Profile.Name, Bus: rep.Bus, Unit: rep.Unit, Requests: rd.Requests,
		TookMS: float64(rd.Took.Microseconds()) / 1000, ByteOrder: rep.Verdict, Points: []jsonPoint{}}
	out.Good, out.Suspect, out.Bad = rep.Counts()
	for i := range rd.Points {
		r := &rd.Points[i]
		p := r.Point
		jp := jsonPoint{Name: p.Name, Register: string(p.Register), Address: p.Address, AddressHex: fmt.Sprintf("0x%04X", p.Address),
			Type: string(p.Type), ByteOrder: p.ByteOrderName(), Raw: rawWords(r.Words, p.Register.IsBit()), Unit: p.Unit,
			Quality: r.Quality(), Range: p.Range, Check: r.Check}
		if r.Value.Kind != profile.KindNone {
			jp.Value = r.Value.Any()
		} else {
			jp.Error = r.Reason
		}
		out.Points = append(out.Points, jp)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// valueText is the value for a report line: "bad: reason" when there is
// none.
func (r *PointResult) valueText() string {
	switch v := r.Value; v.Kind {
	case profile.KindNumber:
		return Num(v.Num)
	case profile.KindString:
		return fmt.Sprintf("%q", v.Str)
	case profile.KindBool:
		return v.String()
	}
	if r.Reason != "" {
		return "bad: " + r.Reason
	}
	return "bad"
}

func rawWords(words []uint16, bits bool) []string {
	out := []string{}
	for _, w := range words {
		if bits {
			out = append(out, fmt.Sprint(w))
		} else {
			out = append(out, fmt.Sprintf("%04X", w))
		}
	}
	return out
}

func rawText(words []uint16, bits bool) string {
	if words == nil {
		return "-"
	}
	return strings.Join(rawWords(words, bits), " ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
