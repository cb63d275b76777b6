package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
)

// release runs fwconfig release SUBCOMMAND.
func release(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "sign" {
		fmt.Fprintln(stderr, "usage: fwconfig release sign -key KEY -url URL [-version V] [-target OS/ARCH] [-allow-downgrade] [-out FILE] BINARY")
		return 2
	}
	return releaseSign(args[1:], stdout, stderr)
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
