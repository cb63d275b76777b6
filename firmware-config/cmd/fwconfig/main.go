// Command fwconfig validates gateway configurations and device profiles,
// lists the profile library, and makes signing keys, signs gateway configs
// and pushes them to a gateway over MQTT, and signs gateway releases (see
// the usage text below).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

const usage = `Usage:
  fwconfig validate [-kind auto|gateway|collector|profile] FILE...
                              check gateway configs, collector configs and
                              device profiles; prints file:line: field: problem
                              and exits 1 on any error
  fwconfig profiles           list the built-in device profiles
  fwconfig profile import -csv FILE [-out FILE] [-class generic -measurement M]
                              turn a manufacturer's register table (name,
                              address, type, scale, unit columns) into a
                              profile that validates, with source: to fill in
  fwconfig keygen -out NAME   make an ed25519 signing key: NAME (private, keep
                              it offline) and NAME.pub (for the gateways)
  fwconfig sign -key KEY [-out FILE] CONFIG
                              validate CONFIG and sign it for its site, gateway
                              and version (JSON, to stdout unless -out)
  fwconfig push -broker URL [-wait 60s] [TLS/auth flags] SIGNED
                              publish a signed config, retained, on its
                              gateway's config topic and wait for the gateway's
                              verdict on config/ack (exit 1 unless applied)
  fwconfig release sign -key KEY -url URL [-version V] [-target OS/ARCH]
                        [-allow-downgrade] [-out FILE] BINARY
                              sign a gateway binary for its target (JSON, to
                              stdout unless -out); version and target default
                              to the binary's own build info
  fwconfig release push -broker URL -site SITE [-wait 10m] [TLS/auth flags]
                        SIGNED [GATEWAY...]
                              announce a signed release, retained, to each
                              GATEWAY of SITE (none: the whole site) and report
                              each gateway's outcome (exit 1 unless all updated)
  fwconfig -h                 this help

With -kind auto (the default) a file with a top-level "points:" key is a
device profile, one with a collector section (influxdb, ingest, energy,
console, gateways, batch, gaps, metrics, http) a collector config, any
other a gateway config. -config FILE is accepted as a FILE to validate.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fwconfig", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "a gateway config or profile `file` to validate (same as: fwconfig validate FILE)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage, "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rest := fs.Args()
	if *configPath != "" {
		rest = append([]string{"validate", *configPath}, rest...)
	}
	if len(rest) == 0 {
		fs.Usage()
		return 2
	}
	switch rest[0] {
	case "validate":
		return validateCmd(rest[1:], stdout, stderr)
	case "profiles":
		lib, err := profile.LoadLibrary()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		for _, n := range lib.Names() {
			p := lib[n]
			fmt.Fprintf(stdout, "%-24s %-18s %s %s (%d points)\n", n, p.Class, p.Manufacturer, p.Model, len(p.Points))
		}
		return 0
	case "profile":
		return profileCmd(rest[1:], stdout, stderr)
	case "keygen":
		return keygen(rest[1:], stdout, stderr)
	case "sign":
		return sign(rest[1:], stdout, stderr)
	case "push":
		return push(rest[1:], stdout, stderr)
	case "release":
		return release(rest[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "fwconfig: unknown command %q\n\n", rest[0])
		fs.Usage()
		return 2
	}
}
