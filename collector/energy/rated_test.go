package energy

import (
	"fmt"
	"testing"
	"time"
)

// TestRatedSumsRestore: the rated-load sums fold hour → day → month like
// every other sum, so a boiler that starts again part-way (a new process,
// or the same one going back for late data) and rebuilds its open windows
// from their stored children (Restore, here from the first run's results)
// gives the day and the month the rated-load values of an uninterrupted
// run, to the last bit. (Before, they were kept in a map that a new
// process lost and a rewind filled a second time.)
func TestRatedSumsRestore(t *testing.T) {
	t.Parallel()
	coal, _ := workedInputs(t)
	from := time.Date(2026, 1, 30, 0, 0, 0, 0, shanghai)
	to := time.Date(2026, 2, 1, 0, 0, 0, 0, shanghai)
	// Load 50 % in the morning, 100 % after noon; more coal per t of steam
	// at half load and from 14:00.
	vals := workedValues(coal)
	load := func(t time.Time) float64 {
		if t.In(shanghai).Hour() < 12 {
			return 0.5
		}
		return 1
	}
	vals["steam_flow"] = func(t time.Time) float64 { return 10 * load(t) }
	vals["coal_feed"] = func(t time.Time) float64 {
		c := coal * load(t) * (1 + 0.01*float64(t.In(shanghai).Hour()%5))
		if t.In(shanghai).Hour() < 12 {
			c *= 1.05
		}
		return c
	}
	d := Data{}
	feed(d, "b1", from, to, 20*time.Second, vals)
	e := oneBoiler(t, "b1")
	boiler := func() *Boiler {
		b, err := newBoiler(e, &e.Boilers[0])
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	closed := func(out Output, p Period) map[int64]Result {
		m := map[int64]Result{}
		for _, r := range find(out.Efficiency, p) {
			m[r.Start.Unix()] = r
		}
		return m
	}
	var want Output
	ref := boiler()
	ref.Start(from)
	ref.Advance(to, d, &want)
	wantDays, wantMonths := closed(want, Day), closed(want, Month)
	if len(wantDays) != 2 || len(wantMonths) != 1 {
		t.Fatalf("%d days, %d months", len(wantDays), len(wantMonths))
	}
	for _, r := range wantDays {
		if !r.HasRated || r.RatedHours != 12 || r.RatedPct == r.DirectPct {
			t.Fatalf("day %s: rated %v over %d h, %.3f %% (all hours %.3f %%): want 12 h, a different value",
				r.Start.Format("01-02"), r.HasRated, r.RatedHours, r.RatedPct, r.DirectPct)
		}
	}
	at := time.Date(2026, 1, 31, 13, 15, 0, 0, shanghai)
	back := time.Date(2026, 1, 31, 6, 0, 0, 0, shanghai)
	for _, tc := range []struct {
		name    string
		restart func(first *Boiler) (*Boiler, time.Time)
	}{
		{"a new process at 13:15", func(*Boiler) (*Boiler, time.Time) { return boiler(), at }},
		{"the same boiler back to 06:00 (late data)", func(first *Boiler) (*Boiler, time.Time) { return first, back }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var first Output
			b := boiler()
			b.Start(from)
			b.Advance(at, d, &first)
			b, start := tc.restart(b)
			b.Start(start)
			stored := map[Period]map[int64]Result{Quarter: closed(first, Quarter), Hour: closed(first, Hour), Day: closed(first, Day)}
			for _, sp := range b.Spans(start) {
				var children []Sums
				for c := sp.Start; c.Before(sp.To); c = Next(c, sp.Child) {
					if r, ok := stored[sp.Child][c.Unix()]; ok {
						children = append(children, r.Sums)
					}
				}
				b.Restore(sp.Parent, sp.Start, children)
			}
			var out Output
			b.Advance(to, d, &out)
			for _, p := range []Period{Day, Month} {
				for _, r := range closed(out, p) {
					w := closed(want, p)[r.Start.Unix()]
					got := fmt.Sprintf("%v %d %v %v %v", r.HasRated, r.RatedHours, r.RatedOut, r.RatedIn, r.RatedPct)
					exp := fmt.Sprintf("%v %d %v %v %v", w.HasRated, w.RatedHours, w.RatedOut, w.RatedIn, w.RatedPct)
					if got != exp {
						t.Errorf("%s %s: rated %s, want %s", p, r.Start.Format("01-02"), got, exp)
					}
				}
			}
			if len(closed(out, Month)) != 1 {
				t.Errorf("no month after the restart")
			}
		})
	}
}
