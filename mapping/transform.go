package mapping

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"
)

// step is one compiled transform of a field's pipeline. Values flow as a
// list: a field may read several paths (from: [a, b]) or a path may hold an
// array; join and split change the list's length, the others work on each
// value.
type step struct {
	name string
	fn   func(vals []string, env applyEnv) ([]string, error)
}

// applyEnv is what transforms may depend on besides the value.
type applyEnv struct {
	defaultRegion string
}

// transformNames lists every transform, for hints.
var transformNames = []string{"country", "date(LAYOUT)", "decimal", "default(VALUE)", "email", "join(SEP)", "lower",
	"map(FILE)", "name", "phone(REGION)", "regex(PATTERN, REPLACEMENT)", "split(SEP)", "sum", "timestamp", "trim", "upper"}

// compileTransforms parses a pipeline such as "trim|lower|phone(AE)". dir
// is where map(FILE) looks for files. It returns one message per mistake.
func compileTransforms(spec, dir string) ([]step, []string) {
	var (
		steps    []step
		problems []string
	)
	for _, part := range splitPipeline(spec) {
		part = strings.TrimSpace(part)
		name, arg, hasArg := part, "", false
		if i := strings.IndexByte(part, '('); i >= 0 {
			if !strings.HasSuffix(part, ")") {
				problems = append(problems, fmt.Sprintf("transform %q: missing )", part))
				continue
			}
			name, arg, hasArg = strings.TrimSpace(part[:i]), part[i+1:len(part)-1], true
		}
		s, err := newStep(name, arg, hasArg, dir)
		if err != "" {
			problems = append(problems, err)
			continue
		}
		steps = append(steps, s)
	}
	return steps, problems
}

// splitPipeline splits at the | that are not inside parentheses, so that a
// regex may use alternation.
func splitPipeline(spec string) []string {
	var parts []string
	depth, start := 0, 0
	for i, r := range spec {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case '|':
			if depth == 0 {
				parts = append(parts, spec[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, spec[start:])
}

func eachValue(f func(string) (string, error)) func([]string, applyEnv) ([]string, error) {
	return func(vals []string, _ applyEnv) ([]string, error) {
		out := make([]string, 0, len(vals))
		for _, v := range vals {
			if v == "" {
				continue
			}
			r, err := f(v)
			if err != nil {
				return nil, err
			}
			if r != "" {
				out = append(out, r)
			}
		}
		return out, nil
	}
}

func pure(f func(string) string) func([]string, applyEnv) ([]string, error) {
	return eachValue(func(s string) (string, error) { return f(s), nil })
}

// newStep builds one transform; the second result is a problem message.
func newStep(name, arg string, hasArg bool, dir string) (step, string) {
	noArg := func() string {
		if hasArg {
			return fmt.Sprintf("transform %s takes no argument", name)
		}
		return ""
	}
	s := step{name: name}
	switch name {
	case "trim":
		s.fn = pure(trimSpace)
	case "lower":
		s.fn = pure(strings.ToLower)
	case "upper":
		s.fn = pure(strings.ToUpper)
	case "email":
		s.fn = eachValue(NormalizeEmail)
	case "name":
		s.fn = pure(NormalizeName)
	case "country":
		s.fn = eachValue(NormalizeCountry)
	case "phone":
		region := strings.ToUpper(strings.TrimSpace(arg))
		if region != "" && !IsPhoneRegion(region) {
			return s, fmt.Sprintf("phone(%s): unknown region; use an ISO 3166 code such as AE, DE or IR", arg)
		}
		s.fn = func(vals []string, env applyEnv) ([]string, error) {
			r := region
			if r == "" {
				r = env.defaultRegion
			}
			return eachValue(func(v string) (string, error) { return NormalizePhone(v, r) })(vals, env)
		}
		return s, ""
	case "date":
		layout := arg
		s.fn = eachValue(func(v string) (string, error) {
			d, err := ParseDate(v, layout)
			return d.String(), err
		})
		return s, ""
	case "timestamp":
		s.fn = eachValue(func(v string) (string, error) {
			t, err := ParseTimestamp(v)
			return t.UTC().Format(time.RFC3339Nano), err
		})
	case "decimal":
		s.fn = eachValue(func(v string) (string, error) {
			d, err := parseAmount(v)
			return d.String(), err
		})
	case "sum":
		// Several amounts become their total (an order's refunds); no
		// amount at all stays no value, not zero.
		s.fn = func(vals []string, _ applyEnv) ([]string, error) {
			var total decimal.Decimal
			n := 0
			for _, v := range vals {
				if v == "" {
					continue
				}
				d, err := parseAmount(v)
				if err != nil {
					return nil, err
				}
				total, n = total.Add(d), n+1
			}
			if n == 0 {
				return nil, nil
			}
			return []string{total.String()}, nil
		}
	case "join":
		if !hasArg {
			return s, "join needs a separator: join( ) or join(, )"
		}
		s.fn = func(vals []string, _ applyEnv) ([]string, error) {
			var kept []string
			for _, v := range vals {
				if v != "" {
					kept = append(kept, v)
				}
			}
			if len(kept) == 0 {
				return nil, nil
			}
			return []string{strings.Join(kept, arg)}, nil
		}
		return s, ""
	case "split":
		if arg == "" {
			return s, "split needs a separator: split(,)"
		}
		s.fn = func(vals []string, _ applyEnv) ([]string, error) {
			var out []string
			for _, v := range vals {
				for _, p := range strings.Split(v, arg) {
					if p = trimSpace(p); p != "" {
						out = append(out, p)
					}
				}
			}
			return out, nil
		}
		return s, ""
	case "default":
		s.fn = func(vals []string, _ applyEnv) ([]string, error) {
			for _, v := range vals {
				if v != "" {
					return vals, nil
				}
			}
			return []string{arg}, nil
		}
		return s, ""
	case "regex":
		i := strings.LastIndexByte(arg, ',')
		if i < 0 {
			return s, "regex needs a pattern and a replacement: regex(PATTERN, REPLACEMENT)"
		}
		re, err := regexp.Compile(arg[:i])
		if err != nil {
			return s, fmt.Sprintf("regex pattern %q: %v", arg[:i], err)
		}
		repl := strings.TrimPrefix(arg[i+1:], " ")
		s.fn = pure(func(v string) string { return re.ReplaceAllString(v, repl) })
		return s, ""
	case "map":
		table, err := loadMapTable(dir, arg)
		if err != "" {
			return s, err
		}
		s.fn = pure(func(v string) string {
			if m, ok := table[v]; ok {
				return m
			}
			return v
		})
		return s, ""
	default:
		return s, fmt.Sprintf("unknown transform %q; known: %s", name, strings.Join(transformNames, ", "))
	}
	return s, noArg()
}

// amountSeparators drops thousands separators, Latin and Arabic, and
// reads the Arabic decimal separator as a point.
var amountSeparators = strings.NewReplacer(",", "", "\u066c", "", "\u066b", ".")

// parseAmount reads a decimal amount, in any script's digits, with
// thousands separators.
func parseAmount(v string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(amountSeparators.Replace(Digits(trimSpace(v))))
	if err != nil {
		return decimal.Decimal{}, invalid("amount", v, "not a decimal number")
	}
	return d, nil
}

// loadMapTable reads a YAML file of key: value pairs for map(FILE).
func loadMapTable(dir, file string) (map[string]string, string) {
	file = strings.TrimSpace(file)
	if file == "" {
		return nil, "map needs a file: map(countries.yaml)"
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(dir, file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Sprintf("map(%s): %v", file, err)
	}
	var table map[string]string
	if err := yaml.Unmarshal(b, &table); err != nil {
		return nil, fmt.Sprintf("map(%s): want a YAML mapping of key: value: %v", file, err)
	}
	return table, ""
}
