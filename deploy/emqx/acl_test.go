// Package emqx holds the EMQX cluster configuration of BoilerWatch
// (docs/tiers.md; not run here, EMQX cannot be installed on the
// development machine); this test keeps its ACL the same as Mosquitto's.
package emqx

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// rule is one permission: who ("*" for every client) may read or write
// topic. Mosquitto's %u is written as EMQX's ${username}.
type rule struct{ who, access, topic string }

// mosquittoRules reads a Mosquitto acl_file.
func mosquittoRules(t *testing.T, path string) []rule {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []rule
	user := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch {
		case fields[0] == "user" && len(fields) == 2:
			user = fields[1]
		case (fields[0] == "topic" || fields[0] == "pattern") && len(fields) == 3:
			who := user
			if fields[0] == "pattern" {
				who = "*"
			}
			out = append(out, rule{who, fields[1], strings.ReplaceAll(fields[2], "%u", "${username}")})
		default:
			t.Fatalf("%s:%d: cannot read %q", path, n, sc.Text())
		}
	}
	return out
}

var (
	emqxRule  = regexp.MustCompile(`(?s)\{(allow|deny),\s*(all|\{username,\s*"([^"]+)"\}),\s*(publish|subscribe),\s*\[([^\]]*)\]\}\.`)
	emqxTopic = regexp.MustCompile(`"([^"]*)"`)
	comment   = regexp.MustCompile(`(?m)%%.*$`)
)

// emqxRules reads the allow rules of an EMQX acl.conf; it fails on any
// other rule but the final {deny, all}.
func emqxRules(t *testing.T, path string) []rule {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := comment.ReplaceAllString(string(data), "")
	var out []rule
	for _, m := range emqxRule.FindAllStringSubmatch(text, -1) {
		if m[1] != "allow" {
			t.Errorf("%s: unexpected %s rule", path, m[1])
		}
		who, access := "*", "read"
		if m[3] != "" {
			who = m[3]
		}
		if m[4] == "publish" {
			access = "write"
		}
		for _, tm := range emqxTopic.FindAllStringSubmatch(m[5], -1) {
			out = append(out, rule{who, access, tm[1]})
		}
	}
	rest := strings.Fields(emqxRule.ReplaceAllString(text, ""))
	if !slices.Equal(rest, []string{"{deny,", "all}."}) {
		t.Errorf("%s: besides its allow rules it holds %q, want only the final {deny, all}.", path, rest)
	}
	return out
}

// TestACLSameAsMosquitto holds acl.conf to deploy/mosquitto's
// boilerwatch.acl with a region's bridge (bridge/central.acl): the same
// permissions for the same users. The collectors' shared-subscription
// form ($share/+/...) is EMQX's only addition.
func TestACLSameAsMosquitto(t *testing.T) {
	mq := filepath.Join("..", "mosquitto")
	want := append(mosquittoRules(t, filepath.Join(mq, "boilerwatch.acl")), mosquittoRules(t, filepath.Join(mq, "bridge", "central.acl"))...)
	var got []rule
	for _, r := range emqxRules(t, "acl.conf") {
		if strings.HasPrefix(r.topic, "$share/") {
			if r.who != "collector" || r.access != "read" {
				t.Errorf("acl.conf: %s may %s %s: only the collectors subscribe to shared topics", r.who, r.access, r.topic)
			}
			continue
		}
		got = append(got, r)
	}
	less := func(a, b rule) int {
		return strings.Compare(a.who+" "+a.access+" "+a.topic, b.who+" "+b.access+" "+b.topic)
	}
	slices.SortFunc(want, less)
	slices.SortFunc(got, less)
	for _, r := range want {
		if _, found := slices.BinarySearchFunc(got, r, less); !found {
			t.Errorf("acl.conf lacks Mosquitto's: %s may %s %s", r.who, r.access, r.topic)
		}
	}
	for _, r := range got {
		if _, found := slices.BinarySearchFunc(want, r, less); !found {
			t.Errorf("acl.conf allows what Mosquitto does not: %s may %s %s", r.who, r.access, r.topic)
		}
	}
	if len(want) < 20 {
		t.Errorf("read only %d Mosquitto rules: the parser missed some", len(want))
	}
}
