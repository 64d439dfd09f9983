package mapping

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/crmhub/crmhub"
)

// Rules is a compiled mapping file: how one raw record of a source becomes
// canonical fields. Compile it once at start-up; Apply is a pure function
// and safe for concurrent use.
type Rules struct {
	// Entity is what the records become: customer, order or event.
	Entity  crmhub.Entity
	id      field
	version *field
	fields  []field
	file    string
}

// field is one compiled target: where its value comes from and the
// transforms it goes through.
type field struct {
	target string
	list   bool // the target keeps every value
	from   []string
	konst  *string
	steps  []step
	line   int
	// nested marks a target whose values are objects (see
	// nestedTargets); items are its fields, read inside each element.
	nested bool
	items  []field
}

// Load reads and compiles the mapping file at path. Every mistake is
// reported at once, as Problems with file:line.
func Load(path string) (*Rules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, Problems{{File: path, Message: fmt.Sprintf("cannot read the mapping file: %v", err),
			Hint: "check the mapping: path in the config"}}
	}
	return Parse(path, b)
}

// Parse compiles a mapping from YAML. name labels problems; map(FILE)
// transforms look for their files next to it.
func Parse(name string, data []byte) (*Rules, error) {
	c := compiler{file: name, dir: filepath.Dir(name)}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 0
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if _, serr := fmt.Sscanf(msg, "line %d:", &line); serr == nil {
			msg = strings.TrimSpace(msg[strings.IndexByte(msg, ':')+1:])
		}
		return nil, Problems{{File: name, Line: line, Message: "YAML syntax: " + msg,
			Hint: "check indentation and quoting; quote transforms that contain : or #"}}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, Problems{{File: name, Line: 1, Message: "a mapping file is a YAML mapping with entity, id and fields",
			Hint: "see the mapping format in the README"}}
	}
	r := c.compile(doc.Content[0])
	return r, c.problems.err()
}

type compiler struct {
	file, dir string
	problems  Problems
}

func (c *compiler) add(line int, path, msg, hint string) {
	c.problems = append(c.problems, Problem{File: c.file, Line: line, Path: path, Message: msg, Hint: hint})
}

func (c *compiler) compile(root *yaml.Node) *Rules {
	r := &Rules{file: c.file}
	var idNode, versionNode, fieldsNode *yaml.Node
	entityLine := root.Line
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "entity":
			entityLine = k.Line
			r.Entity = crmhub.Entity(v.Value)
		case "id":
			idNode = v
		case "version":
			versionNode = v
		case "fields":
			fieldsNode = v
		default:
			c.add(k.Line, k.Value, fmt.Sprintf("unknown key %q", k.Value), "a mapping file has entity, id, version and fields")
		}
	}
	if !slices.Contains(entities, r.Entity) {
		c.add(entityLine, "entity", fmt.Sprintf("entity %q is not one crmhub maps", r.Entity),
			"write entity: customer, order or event")
		return r
	}
	if idNode == nil {
		c.add(root.Line, "id", "id is required", "name the path of the record's id in its source: id: id")
	} else {
		r.id = c.field("id", idNode, "id")
		r.id.list = false
	}
	if versionNode != nil {
		v := c.field("version", versionNode, "version")
		r.version = &v
	}
	if fieldsNode == nil || fieldsNode.Kind != yaml.MappingNode {
		line := root.Line
		if fieldsNode != nil {
			line = fieldsNode.Line
		}
		c.add(line, "fields", "fields is required and is a mapping of target: source", "fields:\n  email: {from: email, transform: email}")
		return r
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(fieldsNode.Content); i += 2 {
		k, v := fieldsNode.Content[i], fieldsNode.Content[i+1]
		target := k.Value
		subs, nested := nestedTargets[r.Entity][target]
		ok, list := knownTarget(r.Entity, target)
		if !ok && !nested {
			c.add(k.Line, "fields."+target, fmt.Sprintf("unknown %s field %q", r.Entity, target),
				"use one of: "+strings.Join(targetNames(r.Entity), ", "))
			continue
		}
		if prev, dup := seen[target]; dup {
			c.add(k.Line, "fields."+target, fmt.Sprintf("%s is mapped twice (first on line %d)", target, prev),
				"keep one; several sources for one field go in from: [a, b]")
			continue
		}
		seen[target] = k.Line
		if nested {
			r.fields = append(r.fields, c.nestedField("fields."+target, v, target, subs))
			continue
		}
		f := c.field("fields."+target, v, target)
		f.list = list
		r.fields = append(r.fields, f)
	}
	return r
}

// field compiles one field spec: a bare path, or {from, transform, const}.
func (c *compiler) field(path string, n *yaml.Node, target string) field {
	f := field{target: target, line: n.Line}
	switch n.Kind {
	case yaml.ScalarNode:
		c.paths(path, n, &f)
		return f
	case yaml.MappingNode:
	default:
		c.add(n.Line, path, "want a source path or {from: ..., transform: ...}", "")
		return f
	}
	var fromNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "from":
			fromNode = v
		case "const":
			s := v.Value
			f.konst = &s
		case "transform":
			steps, problems := compileTransforms(v.Value, c.dir)
			for _, p := range problems {
				c.add(v.Line, path+".transform", p, "")
			}
			f.steps = steps
		default:
			c.add(k.Line, path+"."+k.Value, fmt.Sprintf("unknown key %q", k.Value), "a field takes from, transform and const")
		}
	}
	switch {
	case fromNode != nil && f.konst != nil:
		c.add(n.Line, path, "from and const together", "a field either reads the record (from) or is fixed (const)")
	case fromNode == nil && f.konst == nil:
		c.add(n.Line, path, "no from and no const", "add from: PATH, or const: VALUE")
	case fromNode != nil:
		c.paths(path+".from", fromNode, &f)
	}
	return f
}

// nestedField compiles a target whose values are objects:
// {from: PATH, fields: {NAME: SPEC, ...}}, each field one of subs.
func (c *compiler) nestedField(path string, n *yaml.Node, target string, subs []string) field {
	f := field{target: target, line: n.Line, list: true, nested: true}
	hint := target + ":\n  from: " + target + "\n  fields:\n    " + subs[0] + ": " + subs[0]
	if n.Kind != yaml.MappingNode {
		c.add(n.Line, path, target+" takes the path of an array and the fields of its elements", hint)
		return f
	}
	var fromNode, fieldsNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "from":
			fromNode = v
		case "fields":
			fieldsNode = v
		default:
			c.add(k.Line, path+"."+k.Value, fmt.Sprintf("unknown key %q", k.Value), target+" takes from and fields")
		}
	}
	if fromNode == nil {
		c.add(n.Line, path, "no from", hint)
	} else {
		c.paths(path+".from", fromNode, &f)
	}
	if fieldsNode == nil || fieldsNode.Kind != yaml.MappingNode {
		c.add(n.Line, path+".fields", "fields is required and is a mapping of field: path inside one element", hint)
		return f
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(fieldsNode.Content); i += 2 {
		k, v := fieldsNode.Content[i], fieldsNode.Content[i+1]
		sub := path + ".fields." + k.Value
		switch prev, dup := seen[k.Value]; {
		case !slices.Contains(subs, k.Value):
			c.add(k.Line, sub, fmt.Sprintf("unknown %s field %q", target, k.Value), "use one of: "+strings.Join(subs, ", "))
			continue
		case dup:
			c.add(k.Line, sub, fmt.Sprintf("%s is mapped twice (first on line %d)", k.Value, prev), "keep one")
			continue
		}
		seen[k.Value] = k.Line
		f.items = append(f.items, c.field(sub, v, k.Value))
	}
	return f
}

// paths reads one path or a list of paths and checks their syntax.
func (c *compiler) paths(path string, n *yaml.Node, f *field) {
	var nodes []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		nodes = []*yaml.Node{n}
	case yaml.SequenceNode:
		nodes = n.Content
	default:
		c.add(n.Line, path, "want a path or a list of paths", "")
		return
	}
	for _, p := range nodes {
		if msg := checkPath(p.Value); msg != "" {
			c.add(p.Line, path, msg, "paths use gjson syntax on JSON (addresses.0.city) and column names on CSV")
			continue
		}
		f.from = append(f.from, p.Value)
	}
}

// checkPath finds the syntax mistakes gjson would silently treat as "no
// value": an empty path and unbalanced brackets, parentheses or quotes.
func checkPath(p string) string {
	if strings.TrimSpace(p) == "" {
		return "empty path"
	}
	var stack []rune
	inQuote := false
	for _, r := range p {
		switch {
		case r == '"':
			inQuote = !inQuote
		case inQuote:
		case r == '(' || r == '[' || r == '{':
			stack = append(stack, r)
		case r == ')' || r == ']' || r == '}':
			want := map[rune]rune{')': '(', ']': '[', '}': '{'}[r]
			if len(stack) == 0 || stack[len(stack)-1] != want {
				return fmt.Sprintf("path %q: unbalanced %c", p, r)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if inQuote || len(stack) > 0 {
		return fmt.Sprintf("path %q: unclosed quote or bracket", p)
	}
	return ""
}

// Columns lists every source path the rules read, for checking a CSV
// header.
func (r *Rules) Columns() []string {
	var cols []string
	for _, f := range append([]field{r.id}, r.fields...) {
		cols = append(cols, f.from...)
	}
	if r.version != nil {
		cols = append(cols, r.version.from...)
	}
	slices.Sort(cols)
	return slices.Compact(cols)
}

// CheckHeader reports the columns the rules read that a CSV header lacks,
// each at the line of the mapping that names it.
func (r *Rules) CheckHeader(header []string) error {
	var ps Problems
	all := append([]field{r.id}, r.fields...)
	if r.version != nil {
		all = append(all, *r.version)
	}
	for _, f := range all {
		for _, col := range f.from {
			if !slices.Contains(header, col) {
				ps = append(ps, Problem{File: r.file, Line: f.line, Path: f.target,
					Message: fmt.Sprintf("column %q is not in the file's header", col),
					Hint:    "the header has: " + strings.Join(header, ", ")})
			}
		}
	}
	return ps.err()
}
