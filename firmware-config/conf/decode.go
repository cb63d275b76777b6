package conf

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Document is a decoded YAML file with the line of every field path, so
// that checks made after decoding can still point at the offending line.
type Document struct {
	file  string
	lines map[string]int
	// raw holds each scalar's text as written, for checks that depend on
	// notation (a decimal 40001 versus a hex 0x9C41) rather than value.
	raw  map[string]string
	errs Errors
	// undecoded are the paths whose values did not decode: a check after
	// decoding sees them zero and would only repeat the problem.
	undecoded map[string]bool
}

// Decode decodes data strictly into out, a pointer to the file's type:
// unknown keys, repeated keys, values of the wrong kind and scalars that do
// not fit their field are problems, each recorded at its line and field
// path. Scalars are read by yaml.v3's own rules, and a field whose type
// implements yaml.Unmarshaler decodes itself; its error is recorded at the
// value.
//
// Decode returns an error only for a file that is not YAML at all (a
// syntax error, an empty file). Everything else goes into the Document,
// whose fields that did not decode stay zero, so the caller's own checks
// still run and Err reports every problem of the file in one pass; a
// check on a field that did not decode is dropped, not repeated.
func Decode(file string, data []byte, out any) (*Document, error) {
	d := &Document{file: file, lines: map[string]int{}, raw: map[string]string{}, undecoded: map[string]bool{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Errors{syntaxError(file, err)}
	}
	if len(root.Content) == 0 {
		return nil, Errors{{File: file, Msg: "file is empty"}}
	}
	top := root.Content[0]
	d.index("", top)
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		panic(fmt.Sprintf("conf.Decode(%s): out is %T, want a non-nil pointer", file, out))
	}
	dec := decoder{doc: d, expanding: map[*yaml.Node]bool{}}
	dec.value("", top, v.Elem())
	return d, nil
}

// syntaxError locates a YAML syntax error. yaml.v3 reports those only as
// text ("yaml: line 3: did not find expected '-' indicator"), so the line
// is read from it; every other problem comes from the node tree.
func syntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Msg: msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				e.Line, e.Msg = n, text
			}
		}
	}
	return e
}

// index records the line of every field path (a mapping value at its key's
// line, so a block is reported where it is named) and each scalar's text.
func (d *Document) index(path string, n *yaml.Node) {
	if _, ok := d.lines[path]; !ok {
		d.lines[path] = n.Line
	}
	switch n.Kind {
	case yaml.ScalarNode:
		d.raw[path] = n.Value
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if _, ok := d.lines[p]; !ok {
				d.lines[p] = k.Line
			}
			d.index(p, v)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.index(elem(path, i), c)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func elem(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func parentPath(p string) string {
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}

// File is the name the document was decoded under.
func (d *Document) File() string { return d.file }

// Line finds the line of a field path, or of its nearest parent present in
// the file (a missing field is reported at its parent).
func (d *Document) Line(path string) int {
	for p := path; ; p = parentPath(p) {
		if l, ok := d.lines[p]; ok {
			return l
		}
		if p == "" {
			return 0
		}
	}
}

// Has reports whether the file writes the field at path (even as null).
func (d *Document) Has(path string) bool {
	_, ok := d.lines[path]
	return ok
}

// Raw returns the text of the scalar at path as written in the file.
func (d *Document) Raw(path string) (string, bool) {
	v, ok := d.raw[path]
	return v, ok
}

// Errorf records a problem with the field at path (e.g. "devices[0].interval"),
// unless that field (or the block holding it) did not decode.
func (d *Document) Errorf(path, format string, a ...any) {
	for p := path; ; p = parentPath(p) {
		if d.undecoded[p] {
			return
		}
		if p == "" {
			break
		}
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: d.Line(path), Field: path, Msg: fmt.Sprintf(format, a...)})
}

// Duration gives the duration at path def when the file does not set it,
// and reports one set below min.
func (d *Document) Duration(path string, v *Duration, def, min time.Duration) {
	v.Default(def)
	if v.set && v.Duration < min {
		d.Errorf(path, "%s is below the minimum %s", v.Duration, min)
	}
}

// errorAt records a problem of decoding.
func (d *Document) errorAt(line int, path, format string, a ...any) {
	d.undecoded[path] = true
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Field: path, Msg: fmt.Sprintf(format, a...)})
}

// Err returns the recorded problems as Errors in file order, or nil.
func (d *Document) Err() error {
	if len(d.errs) == 0 {
		return nil
	}
	// Checks run field by field, some after the whole file is read; a
	// reader fixes a file top to bottom.
	sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].Line < d.errs[j].Line })
	return d.errs
}

// maxAliases bounds the aliases a document may expand: a few levels of
// aliases of aliases ("billion laughs") would otherwise take any memory.
const maxAliases = 10000

type decoder struct {
	doc       *Document
	aliases   int
	expanding map[*yaml.Node]bool // aliases being expanded, to catch one inside itself
}

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
	nodeType        = reflect.TypeFor[yaml.Node]()
)

// value decodes n into out (addressable) and reports what does not fit.
func (dc *decoder) value(path string, n *yaml.Node, out reflect.Value) {
	if n.Kind == yaml.AliasNode {
		dc.alias(path, n, out)
		return
	}
	if n.ShortTag() == "!!null" {
		// As yaml.v3 does: a pointer, slice or map becomes nil, anything
		// else keeps its value.
		switch out.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			out.SetZero()
		}
		return
	}
	t := out.Type()
	if t.Kind() == reflect.Pointer && !reflect.PointerTo(t).Implements(unmarshalerType) {
		if out.IsNil() {
			out.Set(reflect.New(t.Elem()))
		}
		dc.value(path, n, out.Elem())
		return
	}
	if t == nodeType || reflect.PointerTo(t).Implements(unmarshalerType) {
		dc.leaf(path, n, out, true)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if reflect.PointerTo(t).Implements(textType) {
			dc.leaf(path, n, out, false)
			return
		}
		if dc.kind(path, n, yaml.MappingNode) {
			dc.structure(path, n, out)
		}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			dc.leaf(path, n, out, true)
			return
		}
		if dc.kind(path, n, yaml.MappingNode) {
			dc.mapping(path, n, out)
		}
	case reflect.Slice:
		if dc.kind(path, n, yaml.SequenceNode) {
			s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
			for i, c := range n.Content {
				dc.value(elem(path, i), c, s.Index(i))
			}
			out.Set(s)
		}
	case reflect.Interface, reflect.Array:
		dc.leaf(path, n, out, true)
	default:
		if dc.kind(path, n, yaml.ScalarNode) {
			dc.leaf(path, n, out, false)
		}
	}
}

func (dc *decoder) alias(path string, n *yaml.Node, out reflect.Value) {
	switch {
	case dc.expanding[n]:
		dc.doc.errorAt(n.Line, path, "alias *%s is used inside its own anchor", n.Value)
	case dc.aliases >= maxAliases:
		if dc.aliases == maxAliases {
			dc.doc.errorAt(n.Line, path, "more than %d aliases expanded; write the values out", maxAliases)
		}
		dc.aliases++
	default:
		dc.aliases++
		dc.expanding[n] = true
		dc.value(path, n.Alias, out)
		delete(dc.expanding, n)
	}
}

var kindNames = map[yaml.Kind]string{
	yaml.MappingNode:  "a mapping (key: value)",
	yaml.SequenceNode: "a list",
	yaml.ScalarNode:   "a single value",
}

// kind reports a value of another kind than the field's.
func (dc *decoder) kind(path string, n *yaml.Node, want yaml.Kind) bool {
	if n.Kind == want {
		return true
	}
	found := kindNames[n.Kind]
	if n.Kind == yaml.ScalarNode {
		found += " " + quote(n.Value)
	}
	dc.doc.errorAt(dc.doc.Line(path), path, "want %s, found %s", kindNames[want], found)
	return false
}

// leaf lets yaml.v3 decode n into out: scalars by its own rules, and types
// that unmarshal themselves.
func (dc *decoder) leaf(path string, n *yaml.Node, out reflect.Value, self bool) {
	err := n.Decode(out.Addr().Interface())
	if err == nil {
		return
	}
	var ce *Error
	var te *yaml.TypeError
	switch {
	case errors.As(err, &ce):
		// An Unmarshaler that locates its problem inside the value.
		line := ce.Line
		if line == 0 {
			line = n.Line
		}
		at := path + ce.Field // "[1]" in a list
		if ce.Field != "" && !strings.HasPrefix(ce.Field, "[") {
			at = join(path, ce.Field)
		}
		dc.doc.errorAt(line, at, "%s", ce.Msg)
	case !self && errors.As(err, &te):
		dc.doc.errorAt(n.Line, path, "%s is not a valid %s", quote(n.Value), typeName(out.Type()))
	default:
		dc.doc.errorAt(n.Line, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
}

// quote shows a scalar as written, shortened.
func quote(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:37]) + "..."
	}
	return "`" + s + "`"
}

func typeName(t reflect.Type) string {
	if t.Name() != "" {
		return t.Name()
	}
	return t.Kind().String()
}

func (dc *decoder) structure(path string, n *yaml.Node, out reflect.Value) {
	fields := fieldsOf(out.Type())
	var merges []*yaml.Node
	explicit := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if !dc.key(path, k, explicit) {
			continue
		}
		dc.field(path, k, v, out, fields)
	}
	// Merged keys (<<: *defaults) fill in what the mapping does not write
	// itself, as yaml.v3 does.
	for _, m := range merges {
		for _, src := range dc.mergeSources(path, m) {
			for i := 0; i+1 < len(src.Content); i += 2 {
				k, v := src.Content[i], src.Content[i+1]
				if _, set := explicit[k.Value]; set || k.Kind != yaml.ScalarNode {
					continue
				}
				explicit[k.Value] = k.Line
				dc.field(path, k, v, out, fields)
			}
		}
	}
}

// mergeSources lists the mappings a merge key names, the first one
// taking precedence.
func (dc *decoder) mergeSources(path string, m *yaml.Node) []*yaml.Node {
	resolve := func(n *yaml.Node) *yaml.Node {
		if n.Kind == yaml.AliasNode {
			dc.aliases++
			return n.Alias
		}
		return n
	}
	m = resolve(m)
	switch m.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{m}
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, c := range m.Content {
			if c = resolve(c); c.Kind == yaml.MappingNode {
				out = append(out, c)
				continue
			}
			dc.doc.errorAt(c.Line, path, "<< merges mappings only")
		}
		return out
	}
	dc.doc.errorAt(m.Line, path, "<< merges mappings only")
	return nil
}

// key checks that a mapping key is a single value written once.
func (dc *decoder) key(path string, k *yaml.Node, seen map[string]int) bool {
	if k.Kind != yaml.ScalarNode {
		dc.doc.errorAt(k.Line, path, "a key must be a single word, not %s", kindNames[k.Kind])
		return false
	}
	if line, dup := seen[k.Value]; dup {
		dc.doc.errorAt(k.Line, join(path, k.Value), "written twice (first at line %d)", line)
		return false
	}
	seen[k.Value] = k.Line
	return true
}

func (dc *decoder) field(path string, k, v *yaml.Node, out reflect.Value, fields *structFields) {
	p := join(path, k.Value)
	idx, ok := fields.byName[k.Value]
	if !ok {
		dc.doc.errorAt(k.Line, p, "unknown field %q (check its spelling and indentation; known: %s)", k.Value, strings.Join(fields.names, ", "))
		return
	}
	dc.value(p, v, out.FieldByIndex(idx))
}

func (dc *decoder) mapping(path string, n *yaml.Node, out reflect.Value) {
	t := out.Type()
	if out.IsNil() {
		out.Set(reflect.MakeMap(t))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !dc.key(path, k, seen) {
			continue
		}
		e := reflect.New(t.Elem()).Elem()
		dc.value(join(path, k.Value), v, e)
		out.SetMapIndex(reflect.ValueOf(k.Value).Convert(t.Key()), e)
	}
}

// structFields are the yaml names of a struct's fields, as yaml.v3 names
// them: the tag's name, else the field's name in lower case; ",inline"
// structs lend theirs.
type structFields struct {
	byName map[string][]int
	names  []string // sorted, for errors
}

var fieldCache sync.Map // reflect.Type → *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{byName: map[string][]int{}}
	var add func(t reflect.Type, index []int)
	add = func(t reflect.Type, index []int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			if sf.PkgPath != "" && !sf.Anonymous {
				continue
			}
			name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			idx := append(append([]int(nil), index...), i)
			if slices.Contains(strings.Split(opts, ","), "inline") && sf.Type.Kind() == reflect.Struct {
				add(sf.Type, idx)
				continue
			}
			if name == "" {
				name = strings.ToLower(sf.Name)
			}
			f.byName[name] = idx
			f.names = append(f.names, name)
		}
	}
	add(t, nil)
	sort.Strings(f.names)
	fieldCache.Store(t, f)
	return f
}
