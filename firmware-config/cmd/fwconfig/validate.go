package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"

	collectorconfig "github.com/boilerwatch/boilerwatch/collector/config"
	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

// The kinds of file fwconfig validate checks.
const (
	kindAuto      = "auto"
	kindGateway   = "gateway"
	kindCollector = "collector"
	kindProfile   = "profile"
)

// collectorKeys are top-level keys only a collector config has.
var collectorKeys = map[string]bool{"influxdb": true, "ingest": true, "energy": true, "console": true,
	"gateways": true, "batch": true, "gaps": true, "metrics": true, "http": true}

func validateCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fwconfig validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", kindAuto, "what the files are: auto (by their content), gateway, collector or profile")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch *kind {
	case kindAuto, kindGateway, kindCollector, kindProfile:
	default:
		fmt.Fprintf(stderr, "fwconfig validate: -kind %q: want auto, gateway, collector or profile\n", *kind)
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "fwconfig validate: name at least one FILE")
		return 2
	}
	bad := 0
	for _, f := range fs.Args() {
		k, err := validate(f, *kind)
		if err != nil {
			fmt.Fprintln(stderr, err)
			bad++
			continue
		}
		fmt.Fprintf(stdout, "%s: ok (%s)\n", f, k)
	}
	if bad > 0 {
		return 1
	}
	return 0
}

// validate checks one file as kind (auto: by its content) and says which
// kind it checked it as.
func validate(path, kind string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return kind, err
	}
	if kind == kindAuto {
		kind = kindOf(data)
	}
	switch kind {
	case kindProfile:
		_, err = profile.ParseProfile(path, data)
	case kindCollector:
		_, err = collectorconfig.Parse(path, data)
	default:
		kind = kindGateway
		_, err = fwconfig.ParseGateway(path, data)
	}
	return kind, err
}

// kindOf tells a profile (top-level points), a collector config (a
// section only it has) and a gateway config apart by their top-level keys.
// A file that is not a YAML mapping is left to the gateway parser, whose
// error locates the problem.
func kindOf(data []byte) string {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil && !errors.Is(err, io.EOF) || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return kindGateway
	}
	m := doc.Content[0]
	kind := kindGateway
	for i := 0; i+1 < len(m.Content); i += 2 {
		switch k := m.Content[i].Value; {
		case k == "points":
			return kindProfile
		case collectorKeys[k]:
			kind = kindCollector
		}
	}
	return kind
}
