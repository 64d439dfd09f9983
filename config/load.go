package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Option adjusts how Load and Parse treat a configuration.
type Option func(*Config)

// WithEphemeralBus accepts bus.driver gochannel, which loses messages on a
// crash; for tests. It sets Config.AllowEphemeralBus.
func WithEphemeralBus() Option {
	return func(c *Config) { c.AllowEphemeralBus = true }
}

// Load reads the config file at path and parses it with Parse, taking
// ${VAR} references from the process environment. Every problem found is
// returned at once as Problems; an unreadable file is one Problem that
// unwraps to the underlying error, so errors.Is(err, fs.ErrNotExist) works.
func Load(path string, opts ...Option) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := fmt.Sprintf("cannot read the config file: %v", err)
		if errors.Is(err, fs.ErrNotExist) {
			msg = "config file not found"
		}
		return nil, Problems{{File: path, Message: msg,
			Hint: "write one with crmhub init, or point -c or " + EnvConfigPath + " at it", err: err}}
	}
	return Parse(path, data, os.LookupEnv, opts...)
}

// Parse builds a Config from the YAML in data. name is the file's path: it
// labels problems and relative paths in the file are resolved against its
// directory. env looks up ${VAR} references (os.LookupEnv in Load); a nil
// env is an empty environment.
//
// Parse reports, all together: YAML syntax errors, unknown and duplicate
// keys, unset variables, secrets written literally, values of the wrong
// type, and everything Validate finds. It returns the Config only when
// there are no problems.
func Parse(name string, data []byte, env func(string) (string, bool), opts ...Option) (*Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	root, ps := parseYAML(name, data)
	if root == nil {
		return nil, ps.Err()
	}

	o := newOrigin(name, filepath.Dir(name))
	w := &walker{o: o, env: env, seen: map[*yaml.Node]bool{}, names: map[string]string{}}
	w.walk(root, reflect.TypeFor[Config](), "", false)
	ps = append(ps, w.problems...)

	var c Config
	if err := root.Decode(&c); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			// yaml.v3 gave up halfway; what was decoded cannot be trusted
			// for validation. The walker has usually explained why already.
			if len(ps) == 0 {
				ps = append(ps, Problem{File: name, Message: strings.TrimPrefix(err.Error(), "yaml: "),
					Hint: "check the file's structure against the example from crmhub init"})
			}
			return nil, ps.Err()
		}
		ps = append(ps, decodeProblems(o, te, ps)...)
	}

	c.src = o
	for _, opt := range opts {
		opt(&c)
	}
	c.ApplyDefaults()
	c.resolvePaths(o.dir)
	if err := c.Validate(); err != nil {
		var vps Problems
		errors.As(err, &vps)
		ps = append(ps, vps...)
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return &c, nil
}

// parseYAML parses data into the node of its single document's top-level
// mapping. It returns nil and the problem when there is nothing to walk.
func parseYAML(name string, data []byte) (*yaml.Node, Problems) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Problems{{File: name, Message: "the file is empty", Hint: "start from the example: crmhub init"}}
		}
		return nil, Problems{syntaxProblem(name, data, err)}
	}
	var ps Problems
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		ps = append(ps, Problem{File: name, Line: extra.Line, Message: "a second YAML document starts here",
			Hint: "keep the whole configuration in one document: remove the --- separator"})
	case !errors.Is(err, io.EOF):
		ps = append(ps, syntaxProblem(name, data, err))
	}

	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind == yaml.AliasNode && root.Alias != nil {
		root = root.Alias
	}
	switch {
	case root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null", root.Kind == yaml.DocumentNode:
		return nil, append(ps, Problem{File: name, Message: "the file is empty", Hint: "start from the example: crmhub init"})
	case root.Kind != yaml.MappingNode:
		return nil, append(ps, Problem{File: name, Line: root.Line, Message: "the top level must be a mapping of keys, got " + describeNode(root),
			Hint: "start with keys such as store:, sources: and identity:, as in the example from crmhub init"})
	}
	return root, ps
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// syntaxProblem turns a yaml.v3 parse error into a Problem with its line.
func syntaxProblem(name string, data []byte, err error) Problem {
	p := Problem{File: name, Message: strings.TrimPrefix(err.Error(), "yaml: "),
		Hint: "check indentation and quoting here and on the line above; quote values that contain \": \" or \" #\" or start with one of {}[]*&!|>%@`"}
	if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Message = m[2]
	}
	p.Message = "YAML syntax: " + p.Message
	if p.Line > 0 && strings.Contains(err.Error(), "did not find expected ','") {
		// In [ ] and { } a bare ${ opens a nested mapping, which is
		// surprising enough to deserve its own hint.
		lines := strings.Split(string(data), "\n")
		for _, l := range lines[min(len(lines), max(0, p.Line-2)):min(len(lines), p.Line+3)] {
			for i := 1; i < len(l); i++ {
				if strings.HasPrefix(l[i:], "${") && l[i-1] != '"' && l[i-1] != '\'' {
					p.Hint = `inside [ ] and { }, quote references: ["${NAME}"]`
				}
			}
		}
	}
	if strings.Contains(err.Error(), "found character that cannot start any token") {
		// Almost always a tab in the indentation, which yaml.v3 reports
		// without a line when it is on the first one.
		for i, l := range strings.Split(string(data), "\n") {
			if ws := l[:len(l)-len(strings.TrimLeft(l, " \t"))]; strings.Contains(ws, "\t") {
				if p.Line == 0 {
					p.Line = i + 1
				}
				p.Hint = "indent with spaces: YAML does not allow tabs"
				break
			}
		}
	}
	return p
}

var unmarshalRE = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")

// decodeProblems turns yaml.v3's type errors ("line 7: cannot unmarshal
// ...") into Problems, skipping lines the walker already reported.
func decodeProblems(o *origin, te *yaml.TypeError, earlier Problems) Problems {
	reported := map[int]bool{}
	for _, p := range earlier {
		reported[p.Line] = true
	}
	var ps Problems
	for _, e := range te.Errors {
		p := Problem{File: o.file, Message: e, Hint: "check the value against the example from crmhub init"}
		if m := lineRE.FindStringSubmatch(e); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Message = m[2]
		}
		if reported[p.Line] {
			continue
		}
		reported[p.Line] = true
		p.Path = o.pathAt(p.Line)
		if m := unmarshalRE.FindStringSubmatch(p.Message); m != nil {
			want := friendlyType(m[3])
			got := map[string]string{"map": "a mapping", "seq": "a list"}[m[1]]
			if got == "" {
				got = strconv.Quote(abbreviate(m[2]))
			}
			p.Message = fmt.Sprintf("want %s, got %s", want, got)
			p.Hint = "write " + want + " here"
		}
		o.flagged[p.Path] = true
		ps = append(ps, p)
	}
	return ps
}

// friendlyType names a Go type from a yaml.v3 message in YAML terms.
func friendlyType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case goType == "string", goType == "config.Secret":
		return "a single value"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "config."), strings.HasPrefix(goType, "*config."):
		return "a mapping"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	}
	return goType
}
