package console

import (
	"fmt"
	"testing"
	"time"
)

// TestEpisodeDays: each below-limit episode of the month by boiler and
// local day, with its hours; one without a recorded end counted to the
// last whole hour, the boiler's next episode or the month's end.
func TestEpisodeDays(t *testing.T) {
	loc := shanghai(t)
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", "2026-"+s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	event := func(boiler, kind, since, ended string) []row {
		tags := map[string]string{"site": "s", "boiler": boiler, "kind": kind}
		rows := []row{{Time: at(since), Field: "message", Value: "…", Tags: tags}, {Time: at(since), Field: "value", Value: 78.1, Tags: tags}}
		if ended != "" {
			rows = append(rows, row{Time: at(since), Field: "ended_at", Value: at(ended).Format(time.RFC3339), Tags: tags})
		}
		return rows
	}
	below := func(boiler, since, ended string) []row { return event(boiler, "efficiency_below_limit", since, ended) }
	stop := at("02-01 00:00")
	for _, tc := range []struct {
		name string
		evt  [][]row
		now  string
		want []string
	}{
		{"one hour", [][]row{below("b1", "01-03 14:00", "01-03 15:00")}, "01-20 10:30",
			[]string{"b1 2026-01-03 14:00–15:00 1h"}},
		{"across midnight", [][]row{below("b1", "01-04 22:00", "01-05 02:00")}, "01-20 10:30",
			[]string{"b1 2026-01-04 22:00–24:00 2h", "b1 2026-01-05 00:00–02:00 2h"}},
		{"open: to the last whole hour", [][]row{below("b1", "01-20 07:00", "")}, "01-20 10:30",
			[]string{"b1 2026-01-20 07:00–10:00 3h open"}},
		{"open: to the next episode", [][]row{below("b1", "01-07 10:00", "01-07 11:00"), below("b1", "01-06 10:00", "")}, "01-20 10:30",
			[]string{"b1 2026-01-06 10:00–24:00 14h", "b1 2026-01-07 00:00–10:00 10h open", "b1 2026-01-07 10:00–11:00 1h"}},
		{"ended next month", [][]row{below("b1", "01-31 23:00", "02-01 01:00")}, "02-03 09:00",
			[]string{"b1 2026-01-31 23:00–24:00 1h"}},
		{"open at the month's end", [][]row{below("b1", "01-31 20:00", "")}, "02-03 09:00",
			[]string{"b1 2026-01-31 20:00–24:00 4h open"}},
		{"other alerts are not below the limit", [][]row{event("b1", "exhaust_high", "01-03 14:00", "01-03 15:00"), below("b2", "01-09 08:00", "01-09 10:00"), below("b1", "01-10 08:00", "01-10 09:00")}, "01-20 10:30",
			[]string{"b1 2026-01-10 08:00–09:00 1h", "b2 2026-01-09 08:00–10:00 2h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var evt []row
			for _, e := range tc.evt {
				evt = append(evt, e...)
			}
			var got []string
			for _, d := range episodeDays(evt, loc, stop, at(tc.now)) {
				s := fmt.Sprintf("%s %s %s–%s %gh", d.Boiler, d.Date, d.From, d.To, d.Hours)
				if d.Open {
					s += " open"
				}
				got = append(got, s)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestReportEpisodeDays: each boiler counts the distinct days with part
// of an episode.
func TestReportEpisodeDays(t *testing.T) {
	d := &reportData{Loc: shanghai(t), Boilers: []reportBoiler{{Name: "b1"}, {Name: "b2"}}}
	tags := map[string]string{"boiler": "b1", "kind": "efficiency_below_limit"}
	since := time.Date(2026, 1, 4, 22, 0, 0, 0, d.Loc)
	evt := []row{
		{Time: since, Field: "ended_at", Value: since.Add(4 * time.Hour).Format(time.RFC3339), Tags: tags},
		{Time: since.Add(time.Hour * 10), Field: "ended_at", Value: since.Add(11 * time.Hour).Format(time.RFC3339), Tags: tags},
	}
	reportEpisodes(d, evt, time.Date(2026, 2, 1, 0, 0, 0, 0, d.Loc), time.Date(2026, 1, 20, 0, 0, 0, 0, d.Loc))
	if len(d.Episodes) != 3 || d.Boilers[0].EpisodeDays != 2 || d.Boilers[1].EpisodeDays != 0 {
		t.Errorf("episodes %+v, days b1 %d, b2 %d; want 3 parts on 2 days of b1", d.Episodes, d.Boilers[0].EpisodeDays, d.Boilers[1].EpisodeDays)
	}
}
