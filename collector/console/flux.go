package console

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api"
)

// Querier runs Flux; *store.Store is one.
type Querier interface {
	Query(ctx context.Context, flux string) (*api.QueryTableResult, error)
	Bucket() string
}

// fluxDuration writes a duration as a Flux duration literal (whole
// seconds; every window this package picks is one).
func fluxDuration(d time.Duration) string {
	if d%time.Second != 0 || d <= 0 {
		panic(fmt.Sprintf("console: window %s is not whole seconds", d))
	}
	return fmt.Sprintf("%ds", int64(d/time.Second))
}

// row is one record of a Flux result.
type row struct {
	Time        time.Time
	Measurement string
	Field       string
	Value       any
	Tags        map[string]string
	// Extra holds the other columns that are not strings (e.g. elapsed).
	Extra map[string]any
}

// Float returns the value as a number; booleans are 0/1.
func (r row) Float() (float64, bool) {
	switch v := r.Value.(type) {
	case float64:
		return v, !math.IsNaN(v) && !math.IsInf(v, 0)
	case int64:
		return float64(v), true
	case uint64:
		return float64(v), true
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// overviewQueries bounds the Flux queries the overview runs at once: each
// site costs seven, and without a bound a page with many sites sent them
// all to InfluxDB together. On the 2-core development machine 8 answer an
// overview of 100 sites as fast as no bound did (1.0 s), 4 took 1.8 s.
const overviewQueries = 8

type queryLimitKey struct{}

// withQueryLimit bounds the queries queryRows runs at once under ctx to n.
func withQueryLimit(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, queryLimitKey{}, make(chan struct{}, n))
}

// queryRows runs flux and collects its records; columns other than _time,
// _value, _field, _measurement, _start, _stop, result and table are tags.
// Under a withQueryLimit context it waits for a slot first, and holds it
// until the result is read.
func queryRows(ctx context.Context, q Querier, flux string) ([]row, error) {
	if sem, ok := ctx.Value(queryLimitKey{}).(chan struct{}); ok {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	res, err := q.Query(ctx, flux)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var out []row
	for res.Next() {
		rec := res.Record()
		r := row{Time: rec.Time(), Value: rec.Value(), Tags: map[string]string{}}
		for k, v := range rec.Values() {
			switch k {
			case "_time", "_value", "_start", "_stop", "result", "table":
			case "_field":
				r.Field, _ = v.(string)
			case "_measurement":
				r.Measurement, _ = v.(string)
			default:
				if s, ok := v.(string); ok {
					r.Tags[k] = s
				} else if v != nil {
					if r.Extra == nil {
						r.Extra = map[string]any{}
					}
					r.Extra[k] = v
				}
			}
		}
		out = append(out, r)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("influxdb query: %w", err)
	}
	return out, nil
}

// Column describes one column of a frame.
type Column struct {
	Key  string `json:"key"`
	Unit string `json:"unit,omitempty"`
	// Kind is time (Unix seconds), number or text.
	Kind string `json:"kind"`
}

// Frame is a table in columns, the shape uPlot draws: Data[i] holds the
// values of Columns[i]; a missing number is null.
type Frame struct {
	ID      string   `json:"id"`
	Columns []Column `json:"columns"`
	Data    [][]any  `json:"data"`
	// Window is the aggregation window of the values ("" = as stored).
	Window string `json:"window,omitempty"`
}

// Rows is the number of rows.
func (f *Frame) Rows() int {
	if len(f.Data) == 0 {
		return 0
	}
	return len(f.Data[0])
}

// series collects time-keyed values of several columns and aligns them.
type series struct {
	cols []Column
	idx  map[string]int
	at   map[int64][]any
}

func newSeries(cols ...Column) *series {
	s := &series{cols: append([]Column{{Key: "time", Kind: "time"}}, cols...), idx: map[string]int{}, at: map[int64][]any{}}
	for i, c := range s.cols {
		s.idx[c.Key] = i
	}
	return s
}

// set puts v into column key at t; unknown columns are ignored.
func (s *series) set(t time.Time, key string, v any) {
	i, ok := s.idx[key]
	if !ok {
		return
	}
	ts := t.Unix()
	r := s.at[ts]
	if r == nil {
		r = make([]any, len(s.cols))
		r[0] = ts
		s.at[ts] = r
	}
	r[i] = v
}

// frame returns the aligned columns, sorted by time.
func (s *series) frame(id string) Frame {
	ts := make([]int64, 0, len(s.at))
	for t := range s.at {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	f := Frame{ID: id, Columns: s.cols, Data: make([][]any, len(s.cols))}
	for i := range f.Data {
		f.Data[i] = make([]any, len(ts))
	}
	for j, t := range ts {
		for i, v := range s.at[t] {
			f.Data[i][j] = v
		}
	}
	return f
}

// tableFrame builds a frame from rows of values.
func tableFrame(id string, cols []Column, rows [][]any) Frame {
	f := Frame{ID: id, Columns: cols, Data: make([][]any, len(cols))}
	for i := range cols {
		f.Data[i] = make([]any, len(rows))
		for j, r := range rows {
			f.Data[i][j] = r[i]
		}
	}
	return f
}
