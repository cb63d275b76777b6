package broker

import (
	_ "embed"
	"fmt"
	"strings"
)

// shippedACL is deploy/mosquitto/boilerwatch.acl (a test keeps the two
// identical): the embedded broker enforces the same rules as Mosquitto.
//
//go:embed boilerwatch.acl
var shippedACL string

// Roles of the embedded broker's accounts. In the ACL file the user
// blocks "collector" and "operator" give the rules of those roles; a
// gateway gets only the pattern lines.
const (
	roleGateway   = "gateway"
	roleCollector = "collector"
	roleOperator  = "operator"
)

// aclRule is one topic or pattern line.
type aclRule struct {
	read, write bool
	topic       string // may hold %u (pattern lines)
	pattern     bool
}

// acl is a parsed Mosquitto ACL file: rules per user block, and the
// pattern lines that apply to everyone.
type acl struct {
	users    map[string][]aclRule
	patterns []aclRule
}

// parseACL reads the subset of Mosquitto's acl_file syntax the shipped
// file uses: comments, "user NAME", "topic [read|write|readwrite] TOPIC"
// and "pattern [read|write|readwrite] TOPIC". Anything else is an error,
// so a new construct in the shipped file cannot be silently ignored here.
func parseACL(text string) (*acl, error) {
	a := &acl{users: map[string][]aclRule{}}
	user := ""
	anon := true // topic lines before any user line: anonymous clients
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch {
		case f[0] == "user" && len(f) == 2:
			user, anon = f[1], false
		case (f[0] == "topic" || f[0] == "pattern") && (len(f) == 2 || len(f) == 3):
			r := aclRule{read: true, write: true, topic: f[len(f)-1], pattern: f[0] == "pattern"}
			if len(f) == 3 {
				switch f[1] {
				case "read":
					r.write = false
				case "write":
					r.read = false
				case "readwrite":
				default:
					return nil, fmt.Errorf("acl line %d: access %q: want read, write or readwrite", i+1, f[1])
				}
			}
			switch {
			case r.pattern:
				a.patterns = append(a.patterns, r)
			case anon:
				return nil, fmt.Errorf("acl line %d: topic line for anonymous clients; the embedded broker has none", i+1)
			default:
				a.users[user] = append(a.users[user], r)
			}
		default:
			return nil, fmt.Errorf("acl line %d: %q is not a user, topic or pattern line", i+1, line)
		}
	}
	return a, nil
}

// allowed reports whether a client of role and username may write (publish
// to) or read (subscribe to, receive) topic, which for reads may be a
// filter with wildcards: a filter is allowed when every topic it matches
// is. A shared subscription ($share/group/filter) is checked as its
// filter.
func (a *acl) allowed(role, username, topic string, write bool) bool {
	if topic == "" {
		return false
	}
	if !write && len(topic) > 7 && strings.EqualFold(topic[:7], "$share/") {
		_, topic, _ = strings.Cut(topic[7:], "/")
	}
	try := func(r aclRule, t string) bool {
		return (write && r.write || !write && r.read) && covers(t, topic)
	}
	if role != roleGateway {
		for _, r := range a.users[role] {
			if try(r, r.topic) {
				return true
			}
		}
	}
	for _, r := range a.patterns {
		// Mosquitto refuses a pattern for a username with wildcards; the
		// config never lets one through, this is a second guard.
		if strings.Contains(r.topic, "%u") && strings.ContainsAny(username, "+#") {
			continue
		}
		if try(r, strings.ReplaceAll(r.topic, "%u", username)) {
			return true
		}
	}
	return false
}

// covers reports whether every topic that filter matches also matches
// pattern (both MQTT topic filters; a topic name is a filter without
// wildcards). Topics beginning with $ are never matched by a wildcard in
// the first level, as MQTT requires.
func covers(pattern, filter string) bool {
	p, f := strings.Split(pattern, "/"), strings.Split(filter, "/")
	if strings.HasPrefix(filter, "$") && (p[0] == "+" || p[0] == "#") {
		return false
	}
	for i, pl := range p {
		if pl == "#" {
			return true // also covers the parent level ("a/#" matches "a")
		}
		if i >= len(f) {
			return false
		}
		switch fl := f[i]; {
		case fl == "#":
			return false // the filter reaches levels the pattern does not
		case pl == "+":
		case fl == "+" || fl != pl:
			return false
		}
	}
	return len(f) == len(p)
}
