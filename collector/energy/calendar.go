package energy

import (
	"fmt"
	"time"
)

// Period is the length of an aggregation window.
type Period string

// The periods the engine writes: the national online-monitoring rhythm
// (15 minutes, day, month) plus the minute it computes from and the hour
// operators and alerts use.
const (
	Minute  Period = "1m"
	Quarter Period = "15m"
	Hour    Period = "1h"
	Day     Period = "1d"
	Month   Period = "1mo"
)

// Floor returns the start of the window of period p containing t. Windows
// are aligned to local midnight in loc: a day runs from 00:00 to 00:00
// local time, a quarter hour starts at :00, :15, :30, :45 local time.
func Floor(t time.Time, p Period, loc *time.Location) time.Time {
	lt := t.In(loc)
	y, mo, d := lt.Date()
	switch p {
	case Minute:
		return time.Date(y, mo, d, lt.Hour(), lt.Minute(), 0, 0, loc)
	case Quarter:
		return time.Date(y, mo, d, lt.Hour(), lt.Minute()-lt.Minute()%15, 0, 0, loc)
	case Hour:
		return time.Date(y, mo, d, lt.Hour(), 0, 0, 0, loc)
	case Day:
		return time.Date(y, mo, d, 0, 0, 0, 0, loc)
	case Month:
		return time.Date(y, mo, 1, 0, 0, 0, 0, loc)
	}
	panic(fmt.Sprintf("energy: unknown period %q", p))
}

// Next returns the start of the window after the one starting at start.
// Days and months are calendar steps, so a day with a DST change has its
// true length.
func Next(start time.Time, p Period) time.Time {
	y, mo, d := start.Date()
	switch p {
	case Minute:
		return start.Add(time.Minute)
	case Quarter:
		return start.Add(15 * time.Minute)
	case Hour:
		return start.Add(time.Hour)
	case Day:
		return time.Date(y, mo, d+1, 0, 0, 0, 0, start.Location())
	case Month:
		return time.Date(y, mo+1, 1, 0, 0, 0, 0, start.Location())
	}
	panic(fmt.Sprintf("energy: unknown period %q", p))
}

// Minutes is the number of minutes in the window starting at start.
func Minutes(start time.Time, p Period) int {
	return int(Next(start, p).Sub(start) / time.Minute)
}
