package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Exact match fields and fuzzy match fields of identity rules.
var (
	exactMatchFields = []string{"email", "external_id", "phone"}
	fuzzyMatchFields = []string{"address", "birthday", "email", "name", "phone"}
)

// MatchRule is one identity rule. In YAML it is either a field name that
// must be equal (email, phone, external_id) or a fuzzy rule
// {fuzzy: [name, birthday, address, email, phone], threshold: 0.95} whose fields together must
// score at least Threshold.
type MatchRule struct {
	// Field is set for an exact rule.
	Field string
	// Fuzzy and Threshold are set for a fuzzy rule.
	Fuzzy     []string
	Threshold float64
}

// String formats the rule as it is written in YAML.
func (r MatchRule) String() string {
	if len(r.Fuzzy) == 0 {
		return r.Field
	}
	return fmt.Sprintf("{fuzzy: [%s], threshold: %s}", strings.Join(r.Fuzzy, ", "),
		strconv.FormatFloat(r.Threshold, 'f', -1, 64))
}

// fuzzyRule is the YAML shape of a fuzzy MatchRule, for marshalling.
type fuzzyRule struct {
	Fuzzy     []string `yaml:"fuzzy"`
	Threshold float64  `yaml:"threshold"`
}

// MarshalYAML implements yaml.Marshaler. Fuzzy rules are written in flow
// style, as in the example, so a rule stays on one line.
func (r MatchRule) MarshalYAML() (any, error) {
	if len(r.Fuzzy) == 0 {
		return r.Field, nil
	}
	var n yaml.Node
	if err := n.Encode(fuzzyRule{Fuzzy: r.Fuzzy, Threshold: r.Threshold}); err != nil {
		return nil, fmt.Errorf("encode match rule: %w", err)
	}
	n.Style = yaml.FlowStyle
	return &n, nil
}

// UnmarshalYAML implements yaml.Unmarshaler. Errors are *yaml.TypeError so
// that decoding continues.
func (r *MatchRule) UnmarshalYAML(n *yaml.Node) error {
	v, ps := parseMatchRule(n)
	if len(ps) > 0 {
		return ps.typeError()
	}
	*r = v
	return nil
}

func (*MatchRule) checkNode(n *yaml.Node) leafProblems {
	_, ps := parseMatchRule(n)
	return ps
}

const matchRuleHint = "write a field (email, phone, external_id) or {fuzzy: [name, birthday, address, email, phone], threshold: 0.95}"

func parseMatchRule(n *yaml.Node) (MatchRule, leafProblems) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch {
	case isNull(n):
		return MatchRule{}, nil
	case n.Kind == yaml.ScalarNode:
		return MatchRule{Field: n.Value}, nil
	case n.Kind == yaml.MappingNode:
	default:
		return MatchRule{}, leafProblems{{line: n.Line, msg: "want a match rule, got " + describeNode(n), hint: matchRuleHint}}
	}
	var r MatchRule
	var ps leafProblems
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		if seen[k.Value] {
			ps = append(ps, leafProblem{line: k.Line, path: "." + k.Value, msg: "duplicate key " + k.Value, hint: "delete one of the two"})
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "fuzzy":
			if v.Kind != yaml.SequenceNode {
				ps = append(ps, leafProblem{line: v.Line, path: ".fuzzy", msg: "want a list of fields, got " + describeNode(v), hint: "write fuzzy: [name, address]"})
				continue
			}
			for _, f := range v.Content {
				if f.Kind == yaml.AliasNode && f.Alias != nil {
					f = f.Alias
				}
				if f.Kind != yaml.ScalarNode {
					ps = append(ps, leafProblem{line: f.Line, path: ".fuzzy", msg: "want a field name, got " + describeNode(f), hint: "use fields from: " + commaList(fuzzyMatchFields)})
					continue
				}
				r.Fuzzy = append(r.Fuzzy, f.Value)
			}
		case "threshold":
			t, err := strconv.ParseFloat(strings.TrimSpace(v.Value), 64)
			if v.Kind != yaml.ScalarNode || err != nil {
				ps = append(ps, leafProblem{line: v.Line, path: ".threshold", msg: "want a number between 0 and 1, got " + describeNode(v), hint: "write threshold: 0.92"})
				continue
			}
			r.Threshold = t
		default:
			known := []string{"fuzzy", "threshold"}
			ps = append(ps, leafProblem{line: k.Line, path: "." + k.Value,
				msg:  fmt.Sprintf("unknown key %q in a match rule", abbreviate(k.Value)) + didYouMean(k.Value, known),
				hint: "remove it or use one of: " + commaList(known)})
		}
	}
	return r, ps
}

func (v *checker) identity() {
	id := v.c.Identity
	seen := map[string]bool{}
	for i, r := range id.Match {
		p := indexPath("identity.match", i)
		switch {
		case r.Field == "" && len(r.Fuzzy) == 0:
			v.add(p, "empty match rule", matchRuleHint)
		case len(r.Fuzzy) == 0:
			if !slices.Contains(exactMatchFields, r.Field) {
				v.add(p, fmt.Sprintf("unknown match field %q", abbreviate(r.Field))+didYouMean(r.Field, exactMatchFields),
					"known: "+commaList(exactMatchFields)+"; fuzzy matching is written {fuzzy: [name, birthday, address, email, phone], threshold: 0.95}")
			}
		default:
			if r.Field != "" {
				v.add(p, "a rule is either a field or a fuzzy rule, not both", matchRuleHint)
			}
			v.subset(p+".fuzzy", r.Fuzzy, fuzzyMatchFields)
			switch {
			case r.Threshold == 0:
				v.add(p+".threshold", "a fuzzy rule needs a threshold", "add threshold: 0.95 (0 to 1; higher merges less)")
			case !(r.Threshold > 0 && r.Threshold <= 1):
				v.add(p+".threshold", fmt.Sprintf("threshold %v is outside 0 to 1", r.Threshold), "use a score such as 0.95; higher merges less")
			}
		}
		if k := r.String(); seen[k] {
			v.add(p, fmt.Sprintf("rule %s is listed twice", k), "delete one of the two")
		} else {
			seen[k] = true
		}
	}
	for i, b := range id.BlockedValues {
		if strings.TrimSpace(b) == "" {
			v.add(indexPath("identity.blocked_values", i), "empty blocked value", "delete the empty entry")
		}
	}
	policies := []string{"most_recent", "source_priority", "most_complete"}
	sv := id.Survivorship
	if sv.Default != "" && !slices.Contains(policies, sv.Default) {
		v.add("identity.survivorship.default", fmt.Sprintf("unknown policy %q", abbreviate(sv.Default))+didYouMean(sv.Default, policies),
			"known: "+commaList(policies))
	}
	survivingFields := []string{"address", "birthday", "email", "locale", "name", "phone"}
	for _, f := range slices.Sorted(maps.Keys(sv.Fields)) {
		p := sv.Fields[f]
		if !slices.Contains(survivingFields, f) && !strings.HasPrefix(f, "attributes.") {
			v.add("identity.survivorship.fields."+f, fmt.Sprintf("unknown field %q", abbreviate(f))+didYouMean(f, survivingFields),
				"known: "+commaList(survivingFields)+" and attributes.NAME")
		}
		if !slices.Contains(policies, p) {
			v.add("identity.survivorship.fields."+f, fmt.Sprintf("unknown policy %q", abbreviate(p))+didYouMean(p, policies),
				"known: "+commaList(policies))
		}
	}
	for i, s := range sv.SourcePriority {
		if v.c.Source(s) == nil {
			v.add(indexPath("identity.survivorship.source_priority", i), fmt.Sprintf("no source named %q", abbreviate(s)),
				"list names from sources:")
		}
	}
	if (sv.Default == "source_priority" || slices.Contains(slices.Collect(maps.Values(sv.Fields)), "source_priority")) && len(sv.SourcePriority) == 0 {
		v.add("identity.survivorship.source_priority", "source_priority is used but no sources are listed",
			"add source_priority: [erp, main-store], most trusted first")
	}
	if id.MaxProfilesPerKey < 0 {
		v.add("identity.max_profiles_per_key", "must be positive", "remove it to use 5, or set a number of profiles")
	}
}
