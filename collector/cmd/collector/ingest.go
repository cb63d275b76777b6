package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/ingest"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// openIngest opens what the consumer keeps in ingest.data_dir: the learned
// field types and the dead-letter store.
func openIngest(cfg *config.Collector) (*ingest.Schema, *ingest.DeadLetters, error) {
	in := &cfg.Ingest
	if err := os.MkdirAll(in.DataDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("ingest.data_dir: %w", err)
	}
	schema, err := ingest.NewSchema(ingest.SchemaOptions{Library: in.Library, Classes: in.Classes,
		MaxFuture: in.MaxFuture.Duration, Path: filepath.Join(in.DataDir, "field-types.json")})
	if err != nil {
		return nil, nil, err
	}
	dl, err := ingest.OpenDeadLetters(filepath.Join(in.DataDir, "dead-letters"), in.DeadLettersMax.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return schema, dl, nil
}

// deadLetters runs `collector -dead-letters list|reingest`.
func deadLetters(ctx context.Context, cfg *config.Collector, what string, out io.Writer) error {
	schema, dl, err := openIngest(cfg)
	if err != nil {
		return err
	}
	switch what {
	case "list":
		letters, err := dl.List()
		if err != nil {
			return err
		}
		printLetters(out, dl.Dir(), letters)
		return nil
	case "reingest":
		st := store.Open(store.Config{URL: cfg.InfluxDB.URL, Token: os.Getenv(cfg.InfluxDB.TokenEnv), Org: cfg.InfluxDB.Org, Bucket: cfg.InfluxDB.Bucket})
		defer st.Close()
		c := ingest.New(ingest.Options{MaxPoints: cfg.Batch.MaxPoints, Schema: schema, DeadLetters: dl, Known: cfg.KnownGateway}, st)
		taken, again, err := c.Reingest(ctx)
		fmt.Fprintf(out, "reingested %d dead letters: %d stored whole, %d refused again (back in %s)\n", taken, taken-again, again, dl.Dir())
		return err
	}
	return fmt.Errorf("-dead-letters %q: want list or reingest", what)
}

// printLetters prints a count by reason and gateway, then one line per
// refused part of each letter, oldest first.
func printLetters(out io.Writer, dir string, letters []*ingest.Letter) {
	counts := map[ingest.Refusal]int{}
	for _, l := range letters {
		for _, p := range l.Problems {
			counts[ingest.Refusal{Reason: p.Reason, Site: l.Site, Gateway: l.Gateway}]++
		}
	}
	keys := make([]ingest.Refusal, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a.Reason+"\x00"+a.Site+"\x00"+a.Gateway < b.Reason+"\x00"+b.Site+"\x00"+b.Gateway
	})
	fmt.Fprintf(out, "%d dead letters in %s\n\n", len(letters), dir)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REASON\tSITE/GATEWAY\tCOUNT")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s/%s\t%d\n", k.Reason, k.Site, k.Gateway, counts[k])
	}
	tw.Flush()
	if len(letters) > 0 {
		fmt.Fprintln(out)
	}
	for _, l := range letters {
		for _, p := range l.Problems {
			what := strings.Trim(p.Device+"."+p.Point, ".")
			if what == "" {
				what = "message"
			}
			fmt.Fprintf(out, "%s  %s/%s  %s  %s: %s\n", l.At.Format("2006-01-02T15:04:05Z"), l.Site, l.Gateway, p.Reason, what, p.Detail)
		}
	}
}
