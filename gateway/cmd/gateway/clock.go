package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseClock reads -clock "anchor=RFC3339,start=RFC3339,rate=N" and returns
// the stamp that maps a response's arrival time to simulated time:
// start + (real − anchor) × rate. It exists for accelerated simulator runs
// (the simulator's -anchor takes the same anchor), so a simulated day's
// samples carry simulated timestamps; "" is the identity (nil). With
// catch_up=true the stamp never passes real time (simulator -catch-up).
func parseClock(s string) (func(time.Time) time.Time, error) {
	if s == "" {
		return nil, nil
	}
	var anchor, start time.Time
	rate := 0.0
	catchUp := false
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		var err error
		switch {
		case !ok:
			err = fmt.Errorf("%q is not key=value", kv)
		case k == "anchor":
			anchor, err = time.Parse(time.RFC3339Nano, v)
		case k == "start":
			start, err = time.Parse(time.RFC3339Nano, v)
		case k == "catch_up":
			catchUp, err = strconv.ParseBool(v)
		case k == "rate":
			rate, err = strconv.ParseFloat(v, 64)
			if err == nil && !(rate > 0 && rate <= 100000) {
				err = fmt.Errorf("rate %g outside (0, 100000]", rate)
			}
		default:
			err = fmt.Errorf("unknown key %q", k)
		}
		if err != nil {
			return nil, fmt.Errorf("-clock: %w (want anchor=RFC3339,start=RFC3339,rate=N[,catch_up=true])", err)
		}
	}
	if anchor.IsZero() || start.IsZero() || rate == 0 {
		return nil, fmt.Errorf("-clock %q: anchor, start and rate are all required", s)
	}
	return func(real time.Time) time.Time {
		t := start.Add(time.Duration(float64(real.Sub(anchor)) * rate))
		if catchUp && t.After(real) {
			// catch_up=true: as the simulator's -catch-up, real time
			// once simulated time has reached it.
			return real
		}
		return t
	}, nil
}
