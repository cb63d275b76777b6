// Package store writes points to InfluxDB (1.8 with its 2.x-compatible API,
// or 2.x) through influxdb-client-go/v2, runs Flux queries, and builds
// their text: FluxString, FluxTime and the filters Eq, OneOf and And. Raw
// samples in bulk (Samples) are read with InfluxQL on 1.x.
package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
)

// Config locates the database.
type Config struct {
	URL string
	// Token is "user:password" (or empty) for 1.8, an API token for 2.x.
	Token string
	// Org is ignored by 1.8.
	Org string
	// Bucket is "database/retention-policy" on 1.8.
	Bucket string
}

// Store writes and queries points.
type Store struct {
	cfg    Config
	client influxdb2.Client
	write  api.WriteAPIBlocking

	mu      sync.Mutex
	version string // the server's, once asked (Samples)
}

// Open creates a client; it does not contact the server.
func Open(cfg Config) *Store {
	opts := influxdb2.DefaultOptions().SetPrecision(time.Millisecond).SetHTTPRequestTimeout(30)
	c := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	return &Store{cfg: cfg, client: c, write: c.WriteAPIBlocking(cfg.Org, cfg.Bucket)}
}

// Close releases the client.
func (s *Store) Close() { s.client.Close() }

// Write stores points; it returns only once InfluxDB accepted them.
func (s *Store) Write(ctx context.Context, points ...*write.Point) error {
	if err := s.write.WritePoint(ctx, points...); err != nil {
		return fmt.Errorf("influxdb %s bucket %s: write %d points: %w", s.cfg.URL, s.cfg.Bucket, len(points), err)
	}
	return nil
}

// WriteLines stores points given as line protocol with millisecond
// timestamps; it returns only once InfluxDB accepted them. An error of
// InfluxDB's answer is the client's, as Write's is, for Refused.
func (s *Store) WriteLines(ctx context.Context, lines []byte) error {
	if err := s.write.WriteRecord(ctx, string(lines)); err != nil {
		return fmt.Errorf("influxdb %s bucket %s: write %d lines: %w", s.cfg.URL, s.cfg.Bucket, bytes.Count(lines, []byte{'\n'}), err)
	}
	return nil
}

// Query runs a Flux query.
func (s *Store) Query(ctx context.Context, flux string) (*api.QueryTableResult, error) {
	r, err := s.client.QueryAPI(s.cfg.Org).Query(ctx, flux)
	if err != nil {
		return nil, fmt.Errorf("influxdb %s: query: %w", s.cfg.URL, err)
	}
	return r, nil
}

// Bucket is the configured bucket, for Flux's from().
func (s *Store) Bucket() string { return s.cfg.Bucket }

// EnsureDatabase creates the 1.8 database named by the bucket's first part.
// InfluxDB 2.x has no such call: there the bucket must exist.
func (s *Store) EnsureDatabase(ctx context.Context) error {
	db, _, _ := strings.Cut(s.cfg.Bucket, "/")
	req, err := s.queryRequest(ctx, url.Values{"q": {fmt.Sprintf("CREATE DATABASE %q", db)}})
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("influxdb %s: create database %s: %w", s.cfg.URL, db, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"error"`) {
		return fmt.Errorf("influxdb %s: create database %s: %s: %s", s.cfg.URL, db, resp.Status, body)
	}
	return nil
}

// queryRequest is a POST of form to InfluxDB 1.x's /query (InfluxQL),
// logged in as the token's user:password when it names one.
func (s *Store) queryRequest(ctx context.Context, form url.Values) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.cfg.URL, "/")+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("influxdb %s: %w", s.cfg.URL, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user, pass, ok := strings.Cut(s.cfg.Token, ":"); ok {
		req.SetBasicAuth(user, pass)
	}
	return req, nil
}

// Ready reports whether the server answers its health check.
func (s *Store) Ready(ctx context.Context) error {
	ok, err := s.client.Ping(ctx)
	if err != nil {
		return fmt.Errorf("influxdb %s: %w", s.cfg.URL, err)
	}
	if !ok {
		return fmt.Errorf("influxdb %s: not ready", s.cfg.URL)
	}
	return nil
}

// Refused reports whether InfluxDB refused a write for what it holds (bad
// line protocol, a field type conflict, a body or value too large): sending
// the same points again cannot succeed, unlike after a connection error, a
// timeout, a 5xx, 429 or an authorization problem, which an operator or
// time can fix.
func Refused(err error) bool {
	var he *influxhttp.Error
	if !errors.As(err, &he) {
		return false
	}
	switch he.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}
