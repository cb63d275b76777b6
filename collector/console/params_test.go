package console

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestPickWindowAndPeriod(t *testing.T) {
	for _, tc := range []struct {
		span   time.Duration
		window time.Duration
		period string
	}{
		{time.Minute, time.Second, "1m"},
		{time.Hour, 5 * time.Second, "1m"},
		{16 * time.Hour, time.Minute, "1m"},
		{24 * time.Hour, 2 * time.Minute, "15m"},
		{7 * 24 * time.Hour, 15 * time.Minute, "15m"},
		{30 * 24 * time.Hour, time.Hour, "1h"},
		{400 * 24 * time.Hour, 12 * time.Hour, "1d"},
	} {
		w, p := pickWindow(tc.span), pickPeriod(tc.span)
		if w != tc.window || p != tc.period {
			t.Errorf("span %s: window %s period %s, want %s %s", tc.span, w, p, tc.window, tc.period)
		}
		if tc.span/w > maxPoints {
			t.Errorf("span %s: %d points per series", tc.span, tc.span/w)
		}
	}
}

func TestParseRange(t *testing.T) {
	sh := time.FixedZone("CST", 8*3600)
	now := time.Date(2026, 1, 15, 10, 30, 0, 0, sh)
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, sh) }
	for _, tc := range []struct {
		name        string
		q           string
		start, stop time.Time
		err         string
	}{
		{"default", "", now.Add(-24 * time.Hour), now, ""},
		{"today is local", "range=today", day(15), day(16), ""},
		{"yesterday", "range=yesterday", day(14), day(15), ""},
		{"this month", "range=month", day(1), time.Date(2026, 2, 1, 0, 0, 0, 0, sh), ""},
		{"last month", "range=lastmonth", time.Date(2025, 12, 1, 0, 0, 0, 0, sh), day(1), ""},
		{"custom local", "start=2026-01-10T08:00&stop=2026-01-11", day(10).Add(8 * time.Hour), day(11), ""},
		{"custom RFC 3339", "start=2026-01-10T00:00:00Z&stop=2026-01-10T01:00:00Z", time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 10, 1, 0, 0, 0, time.UTC), ""},
		{"reversed", "start=2026-01-11&stop=2026-01-10", time.Time{}, time.Time{}, "empty or reversed"},
		{"empty", "start=2026-01-11&stop=2026-01-11", time.Time{}, time.Time{}, "empty or reversed"},
		{"huge", "start=2020-01-01&stop=2026-01-01", time.Time{}, time.Time{}, "at most 400 days"},
		{"before 2000", "start=1970-01-01&stop=1970-02-01", time.Time{}, time.Time{}, "within 2000-01-01 and 2100-01-01"},
		{"only start", "start=2026-01-10", time.Time{}, time.Time{}, "go together"},
		{"both forms", "range=today&start=2026-01-10", time.Time{}, time.Time{}, "either range"},
		{"unknown preset", "range=forever", time.Time{}, time.Time{}, "want one of"},
		{"not a time", "start=yesterday&stop=today", time.Time{}, time.Time{}, "is not a time"},
		{"flux in a time", `start=2026-01-10") |> drop(&stop=2026-01-11`, time.Time{}, time.Time{}, "is not a time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			r, err := parseRange(q, sh, now, "24h")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !isBadRequest(err) {
					t.Fatalf("got %v, want a bad request containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !r.Start.Equal(tc.start) || !r.Stop.Equal(tc.stop) {
				t.Errorf("got [%s, %s), want [%s, %s)", r.Start, r.Stop, tc.start, tc.stop)
			}
		})
	}
}

func TestCSVCells(t *testing.T) {
	sh := time.FixedZone("CST", 8*3600)
	for _, tc := range []struct {
		col  Column
		v    any
		want string
	}{
		{Column{Key: "time", Kind: "time"}, int64(1768435200), "2026-01-15T08:00:00+08:00"},
		{Column{Key: "direct", Unit: "%", Kind: "number"}, 81.25, "81.25"},
		{Column{Key: "direct", Unit: "%", Kind: "number"}, nil, ""},
		{Column{Key: "meter", Kind: "text"}, "coal-b1", "coal-b1"},
		{Column{Key: "resets", Kind: "number"}, int64(2), "2"},
	} {
		if got := csvCell(tc.col, tc.v, sh); got != tc.want {
			t.Errorf("csvCell(%v, %v) = %q, want %q", tc.col, tc.v, got, tc.want)
		}
	}
	for _, tc := range []struct {
		col  Column
		want string
	}{
		{Column{Key: "time", Kind: "time"}, "time (CST)"},
		{Column{Key: "steam_flow", Unit: "t/h", Kind: "number"}, "steam_flow (t/h)"},
		{Column{Key: "meter", Kind: "text"}, "meter"},
	} {
		if got := csvHeader(tc.col, sh); got != tc.want {
			t.Errorf("csvHeader(%v) = %q, want %q", tc.col, got, tc.want)
		}
	}
}
