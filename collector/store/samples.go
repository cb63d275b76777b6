package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SampleFilter selects raw samples: the fields Fields of the series tagged
// with one of Sites and, if Devices is set, one of Devices, in
// [Start, Stop), in the measurements Measurements or, if it is empty, in
// any. Naming the raw measurements matters: InfluxDB 1.8 spends time on
// every series of a measurement that matches the site, whether it has
// the fields or not, and the engine's own measurements hold about ten
// series per boiler and meter (docs/scaling.md).
type SampleFilter struct {
	Sites, Devices, Fields []string
	Measurements           []string
	Start, Stop            time.Time
}

// Sample is one numeric value of a raw series: an integer field's value
// is converted as float64(int64) converts it; booleans and strings are
// not samples.
type Sample struct {
	Site, Device, Field string
	Time                time.Time
	Value               float64
}

// Samples calls each with every sample f selects, in time order within a
// series. On InfluxDB 1.x it asks InfluxQL, which returns many raw rows
// in about half the time 1.8's Flux takes (docs/scaling.md: a million
// rows a minute of data at 200 sites); elsewhere Flux. Not every path
// leaves out a sample at Stop (1.8's Flux returns it): callers cut to
// their own spans.
func (s *Store) Samples(ctx context.Context, f SampleFilter, each func(Sample)) error {
	if len(f.Sites) == 0 || len(f.Fields) == 0 || !f.Start.Before(f.Stop) {
		return nil
	}
	v1, err := s.isV1(ctx)
	if err != nil {
		return err
	}
	if v1 {
		return s.samplesQL(ctx, f, each)
	}
	return s.samplesFlux(ctx, f, each)
}

// isV1 reports whether the server is InfluxDB 1.x, from the version its
// /ping names: "1.x.y", or "unknown" from a 1.x built from source without
// one (as make deps builds it). Anything else (2.x, Cloud; not run here)
// keeps Flux. Asked once, again after an error.
func (s *Store) isV1(ctx context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.version == "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(s.cfg.URL, "/")+"/ping", nil)
		if err != nil {
			return false, fmt.Errorf("influxdb %s: %w", s.cfg.URL, err)
		}
		resp, err := s.client.Options().HTTPClient().Do(req)
		if err != nil {
			return false, fmt.Errorf("influxdb %s: ping: %w", s.cfg.URL, err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return false, fmt.Errorf("influxdb %s: ping: %s", s.cfg.URL, resp.Status)
		}
		s.version = resp.Header.Get("X-Influxdb-Version")
		if s.version == "" {
			s.version = "none" // not 1.x, which always names one: Flux
		}
	}
	return strings.HasPrefix(s.version, "1.") || s.version == "unknown", nil
}

// samplesFlux is Samples through Flux.
func (s *Store) samplesFlux(ctx context.Context, f SampleFilter, each func(Sample)) error {
	where := Matches("site", f.Sites...)
	if len(f.Measurements) > 0 {
		where = And(Matches("_measurement", f.Measurements...), where)
	}
	if len(f.Devices) > 0 {
		where = And(where, OneOf("device", f.Devices...))
	}
	flux := fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> filter(fn: (r) => %s)
  |> keep(columns: ["_time", "_value", "_field", "device", "site"])`,
		FluxString(s.cfg.Bucket), FluxTime(f.Start), FluxTime(f.Stop), where, OneOf("_field", f.Fields...))
	res, err := s.Query(ctx, flux)
	if err != nil {
		return err
	}
	defer res.Close()
	for res.Next() {
		rec := res.Record()
		var v float64
		switch x := rec.Value().(type) {
		case float64:
			v = x
		case int64:
			v = float64(x)
		default:
			continue
		}
		site, _ := rec.ValueByKey("site").(string)
		dev, _ := rec.ValueByKey("device").(string)
		each(Sample{Site: site, Device: dev, Field: rec.Field(), Time: rec.Time(), Value: v})
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("influxdb %s: samples query: %w", s.cfg.URL, err)
	}
	return nil
}

// samplesQL is Samples through InfluxQL on 1.x: one series per
// measurement and tag set (GROUP BY *, as Flux's tables), its rows in
// time order, the answer streamed in chunks. Numbers come as JSON, which
// InfluxDB writes with Go's shortest exact form: parsed back they are the
// stored float64 (an integer's decimal digits parse to float64(int64)).
func (s *Store) samplesQL(ctx context.Context, f SampleFilter, each func(Sample)) error {
	db, rp, _ := strings.Cut(s.cfg.Bucket, "/")
	fields := make([]string, len(f.Fields))
	for i, name := range f.Fields {
		fields[i] = qlIdent(name)
	}
	where := qlMatches("site", f.Sites...)
	if len(f.Devices) > 0 {
		where += " AND " + qlMatches("device", f.Devices...)
	}
	from := "/.*/"
	if len(f.Measurements) > 0 {
		from = qlRegex(f.Measurements...)
	}
	q := fmt.Sprintf(`SELECT %s FROM %s.%s.%s WHERE %s AND time >= %d AND time < %d GROUP BY *`,
		strings.Join(fields, ","), qlIdent(db), qlRP(rp), from, where, f.Start.UnixNano(), f.Stop.UnixNano())
	req, err := s.queryRequest(ctx, url.Values{"db": {db}, "q": {q}, "epoch": {"ns"}, "chunked": {"true"}})
	if err != nil {
		return err
	}
	resp, err := s.client.Options().HTTPClient().Do(req)
	if err != nil {
		return fmt.Errorf("influxdb %s: samples query: %w", s.cfg.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("influxdb %s: samples query: %s: %s", s.cfg.URL, resp.Status, bytes.TrimSpace(body))
	}
	dec := json.NewDecoder(bufio.NewReaderSize(resp.Body, 64<<10))
	for {
		var chunk qlChunk
		if err := dec.Decode(&chunk); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("influxdb %s: samples query: %w", s.cfg.URL, err)
		}
		if chunk.Error != "" {
			return fmt.Errorf("influxdb %s: samples query: %s", s.cfg.URL, chunk.Error)
		}
		for _, r := range chunk.Results {
			if r.Error != "" {
				return fmt.Errorf("influxdb %s: samples query: %s", s.cfg.URL, r.Error)
			}
			for _, ser := range r.Series {
				if err := ser.each(each); err != nil {
					return fmt.Errorf("influxdb %s: samples query: %w", s.cfg.URL, err)
				}
			}
		}
	}
}

// qlChunk is one JSON document of a chunked InfluxQL answer.
type qlChunk struct {
	Results []struct {
		Series []qlSeries `json:"series"`
		Error  string     `json:"error"`
	} `json:"results"`
	Error string `json:"error"`
}

type qlSeries struct {
	Tags    map[string]string   `json:"tags"`
	Columns []string            `json:"columns"`
	Values  [][]json.RawMessage `json:"values"`
}

// each passes on the series' numeric values.
func (ser *qlSeries) each(each func(Sample)) error {
	if len(ser.Columns) == 0 || ser.Columns[0] != "time" {
		return fmt.Errorf("series %v: columns %v do not start with time", ser.Tags, ser.Columns)
	}
	site, dev := ser.Tags["site"], ser.Tags["device"]
	for _, row := range ser.Values {
		if len(row) != len(ser.Columns) {
			return fmt.Errorf("series %v: a row of %d values for %d columns", ser.Tags, len(row), len(ser.Columns))
		}
		ns, err := strconv.ParseInt(string(row[0]), 10, 64)
		if err != nil {
			return fmt.Errorf("series %v: time %s: %w", ser.Tags, row[0], err)
		}
		t := time.Unix(0, ns).UTC()
		for i, cell := range row[1:] {
			if len(cell) == 0 || !(cell[0] == '-' || cell[0] >= '0' && cell[0] <= '9') {
				continue // null, a boolean or a string
			}
			v, err := strconv.ParseFloat(string(cell), 64)
			if err != nil {
				return fmt.Errorf("series %v: %s %s: %w", ser.Tags, ser.Columns[i+1], cell, err)
			}
			each(Sample{Site: site, Device: dev, Field: ser.Columns[i+1], Time: t, Value: v})
		}
	}
	return nil
}

// qlIdent quotes s as an InfluxQL identifier (names are validated
// before they reach a query; quoting is the second wall, as in Flux).
func qlIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// qlRP is the retention policy part of a FROM: empty for the database's
// default.
func qlRP(rp string) string {
	if rp == "" {
		return ""
	}
	return qlIdent(rp)
}

// qlMatches is the InfluxQL condition that tag equals one of values (at
// least one), as one regular expression (as Matches).
func qlMatches(tag string, values ...string) string {
	return qlIdent(tag) + " =~ " + qlRegex(values...)
}

// qlRegex is the InfluxQL regular expression that matches exactly one of
// values (at least one).
func qlRegex(values ...string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = regexLiteral(v)
	}
	return "/^(?:" + strings.Join(parts, "|") + ")$/"
}
