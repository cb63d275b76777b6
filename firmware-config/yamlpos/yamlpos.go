// Package yamlpos decodes a YAML file strictly and keeps the line of every
// field path, so checks made after decoding still report file:line:
// field: message (ParseYAML, Document, FieldErrors). The gateway config
// (package fwconfig) and the profiles (package profile) use it until they
// move to package conf, which replaces it.
package yamlpos

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FieldError is a problem in a config or profile file, located by file, line
// and field path, e.g. "gw.yaml:12: devices[0].interval: not a duration".
type FieldError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// FieldErrors is every problem found in one load, in file order.
type FieldErrors []*FieldError

func (es FieldErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Document is a parsed YAML file with the line of every field path, so that
// validation after decoding can still point at the offending line.
type Document struct {
	file  string
	lines map[string]int
	// raw holds each scalar's text as written, for checks that depend on
	// notation (a decimal 40001 versus a hex 0x9C41) rather than value.
	raw  map[string]string
	errs FieldErrors
}

var (
	yamlLine    = regexp.MustCompile(`^line (\d+): (.*)$`)
	yamlUnknown = regexp.MustCompile(`^field (\S+) not found in type`)
	yamlType    = regexp.MustCompile("^cannot unmarshal !!(\\w+) (`.*`) into (?:\\S+\\.)?(\\S+)$")
)

// ParseYAML decodes data strictly into out (unknown fields are errors) and
// records the position of every field, so validation can report file:line.
// Every config file of the project (gateway, collector, scenario, profile)
// goes through it.
func ParseYAML(file string, data []byte, out any) (*Document, error) {
	d := &Document{file: file, lines: map[string]int{}, raw: map[string]string{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, d.yamlError(err)
	}
	if len(root.Content) == 0 {
		return nil, FieldErrors{{File: file, Msg: "file is empty"}}
	}
	d.walk("", root.Content[0])
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return nil, d.yamlError(err)
	}
	return d, nil
}

// yamlError turns yaml.v3's "line N: msg" errors into FieldErrors.
func (d *Document) yamlError(err error) error {
	var te *yaml.TypeError
	var out FieldErrors
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		fe := &FieldError{File: d.file, Msg: m}
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			fe.Line, _ = strconv.Atoi(g[1])
			fe.Msg = g[2]
			fe.Field = d.fieldAt(fe.Line)
		}
		if g := yamlUnknown.FindStringSubmatch(fe.Msg); g != nil {
			fe.Msg = fmt.Sprintf("unknown field %q (check its spelling and indentation)", g[1])
		} else if g := yamlType.FindStringSubmatch(fe.Msg); g != nil {
			fe.Msg = fmt.Sprintf("%s is not a valid %s", g[2], g[3])
		}
		out = append(out, fe)
	}
	return out
}

func (d *Document) walk(path string, n *yaml.Node) {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if _, ok := d.lines[path]; !ok {
		d.lines[path] = n.Line
	}
	switch n.Kind {
	case yaml.ScalarNode:
		d.raw[path] = n.Value
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			d.lines[p] = k.Line
			d.walk(p, v)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.walk(fmt.Sprintf("%s[%d]", path, i), c)
		}
	}
}

// fieldAt names the field on a line, for yaml.v3's errors, which know only
// the line. Where a flow mapping puts several fields on one line, it names
// their common parent rather than guess.
func (d *Document) fieldAt(line int) string {
	var found []string
	for p, l := range d.lines {
		if l == line {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return ""
	}
	sort.Strings(found)
	common := found[len(found)-1]
	for _, p := range found {
		for common != "" && p != common && !strings.HasPrefix(p, common+".") && !strings.HasPrefix(p, common+"[") {
			common = parentPath(common)
		}
	}
	return common
}

func parentPath(p string) string {
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}

// Line finds the line of a field path, or of its nearest parent present in
// the file (a missing field is reported at its parent).
func (d *Document) Line(path string) int {
	for p := path; ; {
		if l, ok := d.lines[p]; ok {
			return l
		}
		if p == "" {
			return 0
		}
		p = parentPath(p)
	}
}

// Raw returns the text of the scalar at path as written in the file.
func (d *Document) Raw(path string) (string, bool) {
	v, ok := d.raw[path]
	return v, ok
}

// Errorf records a problem with the field at path (e.g. "devices[0].interval").
func (d *Document) Errorf(path, format string, a ...any) {
	d.errs = append(d.errs, &FieldError{File: d.file, Line: d.Line(path), Field: path, Msg: fmt.Sprintf(format, a...)})
}

// Duration reads the duration written raw at path: def when it is empty, an
// error at path when it is not a duration or is below min.
func (d *Document) Duration(path, raw string, def, min time.Duration) time.Duration {
	if raw == "" {
		return def
	}
	v, err := time.ParseDuration(raw)
	if err != nil {
		d.Errorf(path, "%q is not a duration (write e.g. 1s, 500ms, 1m)", raw)
		return def
	}
	if v < min {
		d.Errorf(path, "%s is below the minimum %s", v, min)
	}
	return v
}

// Err returns the recorded problems as FieldErrors, or nil.
func (d *Document) Err() error {
	if len(d.errs) == 0 {
		return nil
	}
	// Checks run field by field, some after the whole file is read; a
	// reader fixes a file top to bottom.
	sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].Line < d.errs[j].Line })
	return d.errs
}
