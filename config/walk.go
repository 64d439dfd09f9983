package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// leafProblem is a problem found by a type that decodes itself; path is
// relative to the value (".threshold").
type leafProblem struct {
	line      int
	path      string
	msg, hint string
}

type leafProblems []leafProblem

// typeError lets UnmarshalYAML report problems the way yaml.v3 expects for
// decoding to carry on.
func (ps leafProblems) typeError() error {
	e := &yaml.TypeError{}
	for _, p := range ps {
		e.Errors = append(e.Errors, fmt.Sprintf("line %d: %s", p.line, p.msg))
	}
	return e
}

// nodeChecker is implemented by types with their own UnmarshalYAML, so the
// walker can report their problems with paths and hints.
type nodeChecker interface {
	checkNode(n *yaml.Node) leafProblems
}

var secretType = reflect.TypeFor[Secret]()

// walker checks a YAML node tree against the Go type it will be decoded
// into, before decoding: it reports unknown and duplicate keys, expands
// ${VAR} references in place, rejects literal secrets and records the line
// of every key path. Decoding alone cannot do this: yaml.v3 ignores unknown
// keys or stops at the first one, and forgets lines.
type walker struct {
	o        *origin
	env      func(string) (string, bool)
	problems Problems
	// seen stops aliases from being walked (and expanded) twice, and keeps
	// alias bombs linear.
	seen map[*yaml.Node]bool
	// names maps a source or destination path to its name, for hints.
	names map[string]string
}

func (w *walker) add(line int, path, msg, hint string) {
	w.problems = append(w.problems, Problem{File: w.o.file, Line: line, Path: path, Message: msg, Hint: hint})
	w.o.flagged[path] = true
}

// walk checks node n, which will be decoded into a value of type t at key
// path. literalOK is set for secrets that may be written literally (DSNs,
// whose passwords Validate checks instead).
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string, literalOK bool) {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		n = n.Alias
	}
	if w.seen[n] {
		return
	}
	w.seen[n] = true
	if _, ok := w.o.lines[path]; !ok && path != "" {
		w.o.lines[path] = n.Line
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if c, ok := reflect.New(t).Interface().(nodeChecker); ok {
		w.expandAll(n, path)
		for _, p := range c.checkNode(n) {
			w.add(p.line, path+p.path, p.msg, p.hint)
		}
		return
	}
	if isNull(n) {
		return
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.add(n.Line, path, "want keys indented under "+lastKey(path)+", got "+describeNode(n), "write key: value pairs on the lines below, indented")
			return
		}
		if t.Kind() == reflect.Struct {
			w.mapping(n, t, path)
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := joinPath(path, n.Content[i].Value)
			w.o.lines[p] = n.Content[i].Line
			w.walk(n.Content[i+1], t.Elem(), p, literalOK)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			w.add(n.Line, path, "want a list, got "+describeNode(n), "write [a, b], or one \"- item\" per line")
			return
		}
		w.sequence(n, t.Elem(), path, literalOK)
	case reflect.Interface:
		w.expandAll(n, path)
	default:
		if n.Kind != yaml.ScalarNode {
			w.add(n.Line, path, "want a single value, got "+describeNode(n), "write one value after "+lastKey(path)+":")
			return
		}
		w.scalar(n, t, path, t == secretType, literalOK)
	}
}

// sequence walks the items of a list. yaml.v3 silently drops list items it
// cannot decode, which would shift every later item's index and make
// problems point at the wrong source; so an item that will not decode (it
// is null, of the wrong kind, or was already reported) is replaced by an
// empty one of the right kind. Validation then stays quiet about it when it
// was reported, and says it is empty when it was.
func (w *walker) sequence(n *yaml.Node, elem reflect.Type, path string, literalOK bool) {
	for i, item := range n.Content {
		p := indexPath(path, i)
		w.o.lines[p] = item.Line
		before := len(w.problems)
		w.walk(item, elem, p, literalOK)
		reported := len(w.problems) > before
		if !decodes(item, elem) || reported && isSelfDecoding(elem) {
			n.Content[i] = emptyNode(elem, item.Line)
			if reported {
				w.o.flagged[p] = true
			}
		}
	}
}

// decodes reports whether yaml.v3 will accept n's kind for type t.
func decodes(n *yaml.Node, t reflect.Type) bool {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return false
		}
		n = n.Alias
	}
	if isNull(n) {
		return false
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isSelfDecoding(t) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return n.Kind == yaml.MappingNode
	case reflect.Slice, reflect.Array:
		return n.Kind == yaml.SequenceNode
	case reflect.Interface:
		return true
	}
	return n.Kind == yaml.ScalarNode
}

func isSelfDecoding(t reflect.Type) bool {
	_, ok := reflect.New(t).Interface().(yaml.Unmarshaler)
	return ok
}

// emptyNode is an empty value of t's kind, which decodes to t's zero value.
func emptyNode(t reflect.Type, line int) *yaml.Node {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case isSelfDecoding(t):
	case t.Kind() == reflect.Struct, t.Kind() == reflect.Map:
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: line}
	case t.Kind() == reflect.Slice:
		return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: line}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Line: line}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// mapping checks the keys of a mapping that decodes into struct type t.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) {
	fields := yamlFields(t)
	if _, named := fields["name"]; named {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "name" && n.Content[i+1].Kind == yaml.ScalarNode {
				w.names[path] = n.Content[i+1].Value
			}
		}
	}
	first := map[string]int{}
	kept := n.Content[:0:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!!merge") {
			w.merge(v, t, path)
			kept = append(kept, k, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.add(k.Line, path, "a key must be a single word, got "+describeNode(k), "write keys as plain words: key: value")
			continue
		}
		p := joinPath(path, k.Value)
		if l, dup := first[k.Value]; dup {
			w.add(k.Line, p, fmt.Sprintf("duplicate key %s (first on line %d)", k.Value, l), "delete one of the two")
			// Dropped, so that decoding (which rejects the whole mapping
			// over a duplicate) still sees the rest.
			continue
		}
		first[k.Value] = k.Line
		kept = append(kept, k, v)
		// Top-level x- keys hold YAML anchors for reuse, as in compose files.
		if path == "" && strings.HasPrefix(k.Value, "x-") {
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			w.unknownKey(k, t, n, p)
			continue
		}
		w.o.lines[p] = k.Line
		w.walk(v, f.typ, p, f.literalOK)
	}
	n.Content = kept
}

// merge walks the mappings merged in with <<, as part of the mapping they
// are merged into.
func (w *walker) merge(v *yaml.Node, t reflect.Type, path string) {
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
	}
	for _, it := range items {
		if it.Kind == yaml.AliasNode && it.Alias != nil {
			it = it.Alias
		}
		if it.Kind != yaml.MappingNode {
			w.add(it.Line, path, "<< must merge a mapping or a list of mappings, got "+describeNode(it), "point << at an anchored mapping: <<: *defaults")
			continue
		}
		if w.seen[it] {
			continue
		}
		w.seen[it] = true
		w.mapping(it, t, path)
	}
}

func (w *walker) unknownKey(k *yaml.Node, t reflect.Type, parent *yaml.Node, path string) {
	allowed, kind := keysFor(t, parent)
	msg := fmt.Sprintf("unknown key %q", abbreviate(k.Value)) + didYouMean(k.Value, allowed)
	if kind != "" {
		msg = fmt.Sprintf("unknown key %q for a %s", abbreviate(k.Value), kind) + didYouMean(k.Value, allowed)
	}
	w.add(k.Line, path, msg, "remove it or use one of: "+commaList(allowed))
	// The key the user probably meant counts as reported too: a "missing
	// access_token" on top of "unknown key acess_token" would be noise.
	if s := suggest(k.Value, allowed); s != "" {
		w.o.flagged[joinPath(parentPath(path), s)] = true
	}
}

// keysFor lists the keys a mapping of type t accepts. For sources and
// destinations whose type is known it lists that type's keys only, which
// makes suggestions and hints much shorter; kind then names the type.
func keysFor(t reflect.Type, m *yaml.Node) (keys []string, kind string) {
	var table typeKeys
	switch t {
	case reflect.TypeFor[SourceConfig]():
		table = sourceKeys
	case reflect.TypeFor[DestinationConfig]():
		table = destinationKeys
	default:
		return sortedKeys(yamlFields(t)), ""
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "type" {
			typ := m.Content[i+1].Value
			if keys, ok := table.keys(typ); ok {
				return keys, typ + " " + table.what
			}
		}
	}
	return table.all(), ""
}

// scalar expands references in a scalar and, for secrets, insists on them.
func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string, secret, literalOK bool) {
	raw := n.Value
	val, refs, eps := expandEnv(raw, w.env)
	for _, ep := range eps {
		w.add(n.Line, path, ep.msg, ep.hint)
	}
	if refs > 0 {
		w.o.fromEnv[path] = true
	}
	if secret && !literalOK && refs == 0 && strings.TrimSpace(raw) != "" && n.ShortTag() != "!!null" {
		hint := fmt.Sprintf("move it to an environment variable and write %s: ${%s}", lastKey(path), w.envNameFor(path))
		if strings.HasSuffix(path, "]") {
			hint = fmt.Sprintf(`move it to an environment variable and write "${%s}" in its place`, w.envNameFor(path))
		}
		w.add(n.Line, path, "secret written into the file", hint)
	}
	if val != raw {
		n.Value = val
		retag(n, t)
	}
}

// expandAll expands references in every scalar below n, for types that
// decode themselves.
func (w *walker) expandAll(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		w.scalar(n, nil, path, false, false)
	case yaml.MappingNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if !w.seen[c] {
				w.seen[c] = true
				w.expandAll(c, path)
			}
		}
	}
}

// retag makes yaml.v3 re-resolve an expanded scalar: as a string for
// string fields (so an expanded "true" or "null" stays text), by its
// content otherwise (so "${PORT}" can become an int).
func retag(n *yaml.Node, t reflect.Type) {
	if t != nil && t.Kind() == reflect.String {
		n.Tag = "!!str"
		return
	}
	n.Tag = ""
	n.Style = 0
}

// envNameFor suggests an environment variable for the secret at path,
// named after the source or destination when it has a name.
func (w *walker) envNameFor(path string) string {
	for strings.HasSuffix(path, "]") {
		path = parentPath(path)
	}
	parent := parentPath(path)
	owner := w.names[parent]
	if owner == "" {
		owner = parent
	}
	return envVarName(owner, path[strings.LastIndexByte(path, '.')+1:])
}

// envVarName builds a conventional variable name from an owner and a key:
// main-store and access_token make MAIN_STORE_ACCESS_TOKEN. List indexes
// are dropped.
func envVarName(owner, key string) string {
	var b strings.Builder
	skip := false
	for _, r := range owner + "_" + key {
		switch {
		case r == '[':
			skip = true
		case r == ']':
			skip = false
		case skip:
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return strings.Trim(b.String(), "_")
}

// describeNode names what a node holds for messages, without echoing
// mappings or lists.
func describeNode(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return strconv.Quote(abbreviate(n.Value))
	}
	return "nothing"
}

// field is what the walker needs to know about a struct field.
type field struct {
	typ       reflect.Type
	literalOK bool
}

// yamlFields maps the yaml keys of struct type t to their fields.
func yamlFields(t reflect.Type) map[string]field {
	fields := map[string]field{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = field{typ: f.Type, literalOK: f.Tag.Get("config") == "literal"}
	}
	return fields
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
