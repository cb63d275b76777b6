package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

const releaseUsage = `usage: fwconfig release sign -key KEY -url URL [-version V] [-target OS/ARCH] [-allow-downgrade] [-out FILE] BINARY
       fwconfig release push -broker URL -site SITE [-wait 10m] [TLS/auth flags] SIGNED [GATEWAY...]`

// release runs fwconfig release SUBCOMMAND.
func release(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "sign":
			return releaseSign(args[1:], stdout, stderr)
		case "push":
			return releasePush(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, releaseUsage)
	return 2
}

func releaseSign(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fwconfig release sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("key", "", "ed25519 private key `file` (the one that signs configs)")
	rawURL := fs.String("url", "", "`URL` the gateways fetch the binary from (https://…; range requests)")
	version := fs.String("version", "", "release `version`; default: the binary's -X main.version")
	target := fs.String("target", "", "`GOOS/GOARCH`; default: the binary's own")
	down := fs.Bool("allow-downgrade", false, "let gateways running a higher version install this one")
	out := fs.String("out", "", "write the signed release to this `file` instead of stdout")
	if fs.Parse(args) != nil || *keyPath == "" || *rawURL == "" || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: fwconfig release sign -key KEY -url URL [-version V] [-target OS/ARCH] [-allow-downgrade] [-out FILE] BINARY")
		return 2
	}
	key, err := fwconfig.LoadPrivateKey(*keyPath)
	if err != nil {
		fmt.Fprintln(stderr, "fwconfig release sign:", err)
		return 1
	}
	r, err := fwconfig.SignRelease(fs.Arg(0), *version, *target, *rawURL, *down, key)
	if err != nil {
		fmt.Fprintln(stderr, "fwconfig release sign:", err)
		return 1
	}
	enc, _ := json.Marshal(r)
	if *out == "" {
		fmt.Fprintln(stdout, string(enc))
		return 0
	}
	if err := os.WriteFile(*out, enc, 0o644); err != nil {
		fmt.Fprintln(stderr, "fwconfig release sign:", err)
		return 1
	}
	fmt.Fprintf(stdout, "signed release %s for %s (%d bytes, sha256 %s) into %s\n", r.Version, r.Target, r.Size, r.SHA256, *out)
	return 0
}

// outcome is what release push knows of one gateway: its last report.
type outcome struct {
	ack   telemetry.UpdateAck
	heard bool
}

// final reports whether a gateway's report ends its update: updated,
// rejected (a gateway already running the release counts as updated), or
// rolled back. failed is retried by the gateway, so it is not final.
func final(a telemetry.UpdateAck) bool {
	return a.Status == telemetry.UpdateUpdated || a.Status == telemetry.UpdateRejected || a.Status == telemetry.UpdateRolledBack
}

func upToDate(a telemetry.UpdateAck) bool {
	return a.Status == telemetry.UpdateUpdated || (a.Status == telemetry.UpdateRejected && a.Running == a.Release)
}

// releasePush announces a signed release, retained, to each named gateway
// of a site (or, without names, on the site's topic to all of them) and
// reports each gateway's outcome as its update/ack says.
func releasePush(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fwconfig release push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var bf brokerFlags
	bf.register(fs)
	site := fs.String("site", "", "the `site` of the gateways")
	wait := fs.Duration("wait", 10*time.Minute, "how long to wait for every gateway's outcome; 0 does not wait")
	if fs.Parse(args) != nil || bf.broker == "" || *site == "" || fs.NArg() < 1 {
		fmt.Fprintln(stderr, releaseUsage)
		return 2
	}
	payload, err := readEnvelope(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "fwconfig release push:", err)
		return 1
	}
	r, err := fwconfig.ParseRelease(payload)
	if err != nil || len(r.Signature) == 0 {
		fmt.Fprintf(stderr, "fwconfig release push: %s is not a signed release as fwconfig release sign writes it (%v)\n", fs.Arg(0), err)
		return 1
	}
	gateways := fs.Args()[1:]
	for _, g := range gateways {
		if !telemetry.ValidName(g) {
			fmt.Fprintf(stderr, "fwconfig release push: %q is not a gateway name\n", g)
			return 2
		}
	}
	c, err := bf.connect()
	if err != nil {
		fmt.Fprintln(stderr, "fwconfig release push:", err)
		return 1
	}
	defer c.Disconnect(250)

	var mu sync.Mutex
	outcomes := map[string]*outcome{}
	for _, g := range gateways {
		outcomes[g] = &outcome{}
	}
	changed := make(chan struct{}, 1)
	if *wait > 0 {
		filter := telemetry.UpdateAckTopic(*site, "+")
		tok := c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
			var a telemetry.UpdateAck
			if json.Unmarshal(m.Payload(), &a) != nil || a.Release != r.Version {
				return
			}
			mu.Lock()
			o := outcomes[a.Gateway]
			if o == nil && len(gateways) == 0 { // the site's topic: whoever answers
				o = &outcome{}
				outcomes[a.Gateway] = o
			}
			if o != nil {
				o.ack, o.heard = a, true
			}
			mu.Unlock()
			if o != nil && final(a) {
				fmt.Fprintln(stdout, strings.TrimSpace(fmt.Sprintf("%s: %s (running %s) %s", a.Gateway, a.Status, a.Running, a.Reason)))
			}
			select {
			case changed <- struct{}{}:
			default:
			}
		})
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			fmt.Fprintf(stderr, "fwconfig release push: subscribe to %s: %v\n", filter, tok.Error())
			return 1
		}
	}
	topics := []string{telemetry.SiteUpdateTopic(*site)}
	if len(gateways) > 0 {
		topics = topics[:0]
		for _, g := range gateways {
			topics = append(topics, telemetry.UpdateTopic(*site, g))
		}
	}
	for _, topic := range topics {
		if tok := c.Publish(topic, 1, true, payload); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
			fmt.Fprintf(stderr, "fwconfig release push: publish %s: %v\n", topic, tok.Error())
			return 1
		}
		fmt.Fprintf(stdout, "announced release %s for %s on %s (retained)\n", r.Version, r.Target, topic)
	}
	if *wait == 0 {
		return 0
	}
	deadline := time.After(*wait)
	for {
		mu.Lock()
		done := len(gateways) > 0 && !slices.ContainsFunc(gateways, func(g string) bool {
			return !outcomes[g].heard || !final(outcomes[g].ack)
		})
		mu.Unlock()
		if done {
			break
		}
		select {
		case <-changed:
			continue
		case <-deadline:
		}
		break
	}
	// The summary: one line per gateway, and the exit status.
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(outcomes))
	for g := range outcomes {
		names = append(names, g)
	}
	sort.Strings(names)
	good := 0
	fmt.Fprintf(stdout, "release %s: %d gateway(s)\n", r.Version, len(names))
	for _, g := range names {
		o := outcomes[g]
		switch {
		case !o.heard:
			fmt.Fprintf(stdout, "  %-20s no report within %s (the release stays retained; it installs when the gateway connects)\n", g, *wait)
		case upToDate(o.ack):
			good++
			fmt.Fprintf(stdout, "  %-20s ok: running %s\n", g, o.ack.Running)
		case o.ack.Status == telemetry.UpdateDownloading:
			fmt.Fprintf(stdout, "  %-20s still downloading: %d of %d bytes\n", g, o.ack.Done, o.ack.Total)
		default:
			fmt.Fprintf(stdout, "  %-20s %s: running %s; %s\n", g, o.ack.Status, o.ack.Running, o.ack.Reason)
		}
	}
	if len(names) == 0 || good < len(names) {
		return 1
	}
	return 0
}
