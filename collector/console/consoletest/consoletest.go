// Package consoletest writes data for the console's tests and benchmark
// straight into InfluxDB as line protocol: a month of raw boiler samples,
// and the derived measurements the efficiency and energy engine writes
// (boiler_efficiency, energy, data_quality, events), with values that are
// simple functions of time so that tests can predict them.
package consoletest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/energy"
)

// Writer posts line protocol to InfluxDB's /api/v2/write in batches.
type Writer struct {
	URL, Bucket, Token string
	// Batch is the number of lines per request (default 20000).
	Batch int
	buf   bytes.Buffer
	n     int
	// Lines counts what was written.
	Lines int
}

// Add appends one line and flushes a full batch.
func (w *Writer) Add(ctx context.Context, line string) error {
	w.buf.WriteString(line)
	w.buf.WriteByte('\n')
	w.n++
	if w.Batch <= 0 {
		w.Batch = 20000
	}
	if w.n >= w.Batch {
		return w.Flush(ctx)
	}
	return nil
}

// Flush writes what is buffered.
func (w *Writer) Flush(ctx context.Context) error {
	if w.n == 0 {
		return nil
	}
	u := strings.TrimRight(w.URL, "/") + "/api/v2/write?" + url.Values{"bucket": {w.Bucket}, "precision": {"s"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(w.buf.Bytes()))
	if err != nil {
		return err
	}
	if w.Token != "" {
		req.Header.Set("Authorization", "Token "+w.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("write %d lines: %w", w.n, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("write %d lines: %s: %s", w.n, resp.Status, body)
	}
	w.Lines += w.n
	w.buf.Reset()
	w.n = 0
	return nil
}

// Wave is the test signal: a daily swing with a slower weekly one, in
// [-1, 1], a function of time only.
func Wave(t time.Time) float64 {
	h := float64(t.Unix()) / 3600
	return 0.7*math.Sin(2*math.Pi*h/24) + 0.3*math.Sin(2*math.Pi*h/168)
}

// BoilerRaw writes raw samples of a boiler PLC (profile
// szl-chain-grate-plc) every step in [from, to).
func BoilerRaw(ctx context.Context, w *Writer, site, gateway, device string, from, to time.Time, step time.Duration) error {
	seq := 0
	for t := from; t.Before(to); t = t.Add(step) {
		x := Wave(t)
		steam := 7 + 2*x
		line := fmt.Sprintf("boiler,device=%s,gateway=%s,profile=szl-chain-grate-plc,site=%s "+
			"steam_flow=%.2f,steam_pressure=%.3f,steam_temp=%.1f,feedwater_temp=20,coal_feed=%.3f,exhaust_temp=%.1f,o2=%.2f,co=%di,load=%.1f,burner_running=true,_seq=%di %d",
			device, gateway, site, steam, 1.0+0.05*x, 184+x, steam*0.17, 160+8*x, 7.5-1.5*x, 300+int(50*x), steam*10, seq, t.Unix())
		seq++
		if err := w.Add(ctx, line); err != nil {
			return err
		}
	}
	return w.Flush(ctx)
}

// Efficiency is the seeded efficiency of a boiler at t (direct, indirect
// and the losses q2..q6, in %).
func Efficiency(t time.Time) (direct, indirect float64, q [5]float64) {
	x := Wave(t)
	q = [5]float64{9 + 1.5*x, 0.8, 6 - x, 2.2, 0.6}
	indirect = 100 - (q[0] + q[1] + q[2] + q[3] + q[4])
	direct = indirect - 1 + 1.5*x
	return direct, indirect, q
}

// RatedEfficiency is the seeded efficiency of a boiler over the rated-load
// hours of the day or month starting at t (%): 1 pp above its direct.
func RatedEfficiency(t time.Time) float64 {
	dir, _, _ := Efficiency(t)
	return dir + 1
}

// Periods are the engine's periods and their lengths (1mo: calendar).
var Periods = []string{"1m", "15m", "1h", "1d", "1mo"}

// Derived describes what to seed.
type Derived struct {
	Site, Boiler string
	Limit        float64
	From, To     time.Time
	Loc          *time.Location
	// Periods to write (default all); energy and data_quality are written
	// for 15m, 1d and 1mo only, as the engine does.
	Periods []string
	Meters  []Meter
}

// Meter is a seeded energy meter: it consumes Rate native units per hour.
type Meter struct {
	Name, EnergyType, Unit string
	Rate, KgcePerUnit      float64
	// Completeness is its daily completeness in %; a reset is booked on
	// ResetDay (0: none).
	Completeness float64
	ResetDay     int
}

// WriteDerived writes boiler_efficiency, energy, data_quality and events
// for d.
func WriteDerived(ctx context.Context, w *Writer, d Derived) error {
	ps := d.Periods
	if len(ps) == 0 {
		ps = Periods
	}
	for _, p := range ps {
		// Only closed periods, as the engine writes them.
		for t := energy.Floor(d.From, energy.Period(p), d.Loc); !energy.Next(t, energy.Period(p)).After(d.To); t = energy.Next(t, energy.Period(p)) {
			dir, ind, q := Efficiency(t)
			grade := 3
			if dir < d.Limit {
				grade = 0
			}
			x := Wave(t)
			hours := energy.Next(t, energy.Period(p)).Sub(t).Hours()
			steam := 7 + 2*x
			if err := w.Add(ctx, fmt.Sprintf("boiler_efficiency,boiler=%s,period=%s,site=%s "+
				"direct=%.3f,indirect=%.3f,q2=%.3f,q3=%.3f,q4=%.3f,q5=%.3f,q6=%.3f,alpha=%.4f,load=%.2f,limit=%g,grade=%di,"+
				"samples=%di,minutes=%di,coverage=100,steam_t=%.4f,coal_t=%.4f,exhaust=%.2f,heat_in_gj=%.4f,heat_out_gj=%.4f %d",
				d.Boiler, p, d.Site, dir, ind, q[0], q[1], q[2], q[3], q[4], 21/(21-(7.5-1.5*x)), steam*10, d.Limit, grade,
				int(hours*360), int(hours*60), steam*hours, steam*0.17*hours, 160+8*x,
				steam*0.17*hours*20, steam*0.17*hours*20*dir/100, t.Unix())); err != nil {
				return err
			}
			if p == "1d" || p == "1mo" {
				// Rated-load hours: 60 % of the hours, 1 pp above all hours'.
				rh := math.Round(0.6 * hours)
				in := steam * 0.17 * rh * 20
				if err := w.Add(ctx, fmt.Sprintf("boiler_efficiency,boiler=%s,period=%s,site=%s rated_hours=%di,rated_pct=%.3f,rated_in_gj=%.4f,rated_out_gj=%.4f %d",
					d.Boiler, p, d.Site, int(rh), RatedEfficiency(t), in, in*RatedEfficiency(t)/100, t.Unix())); err != nil {
					return err
				}
			}
			if p == "1m" || p == "1h" {
				continue
			}
			for _, m := range d.Meters {
				native := m.Rate * hours * (1 + 0.2*x)
				resets, gaps := 0, 0
				if p == "1d" && m.ResetDay > 0 && t.In(d.Loc).Day() == m.ResetDay {
					resets = 1
				}
				if p == "1d" && m.Completeness < 100 {
					gaps = 1
				}
				if err := w.Add(ctx, fmt.Sprintf("energy,energy_type=%s,meter=%s,period=%s,site=%s native=%.4f,unit=%q,kgce=%.4f,resets=%di,gaps=%di,coverage=%.1f %d",
					m.EnergyType, m.Name, p, d.Site, native, m.Unit, native*m.KgcePerUnit, resets, gaps, m.Completeness, t.Unix())); err != nil {
					return err
				}
				if p == "1d" {
					expected := 1440.0
					received := math.Round(expected * m.Completeness / 100)
					c := 100 * received / expected
					if err := w.Add(ctx, fmt.Sprintf("data_quality,kind=completeness,meter=%s,period=1d,site=%s received=%gi,expected=%g,completeness=%.2f,flagged=%t %d",
						m.Name, d.Site, received, expected, c, c < 90, t.Unix())); err != nil {
						return err
					}
				}
			}
		}
	}
	// One alert a day for the episode 10:00–13:00 local time; one not
	// over by d.To has no end yet.
	for t := energy.Floor(d.From, energy.Day, d.Loc).Add(10 * time.Hour); t.Before(d.To); t = t.AddDate(0, 0, 1) {
		if t.Before(d.From) {
			continue
		}
		ended := ""
		if end := t.Add(3 * time.Hour); !end.After(d.To) {
			ended = fmt.Sprintf(",ended_at=%q", end.Format(time.RFC3339))
		}
		if err := w.Add(ctx, fmt.Sprintf("events,boiler=%s,kind=efficiency_below_limit,site=%s message=%q,value=%.1f,limit=%g,confirmed_at=%q%s %d",
			d.Boiler, d.Site, d.Boiler+": hourly direct-method efficiency below the GB 24500-2020 grade-3 limit", d.Limit-1.5, d.Limit,
			t.Add(2*time.Hour).Format(time.RFC3339), ended, t.Unix())); err != nil {
			return err
		}
	}
	return w.Flush(ctx)
}
