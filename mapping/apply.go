package mapping

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/crmhub/crmhub"
)

// Record is one raw record as the rules see it.
type Record interface {
	// Values returns the values at a path: none when it is missing or
	// null, several when it names an array.
	Values(path string) []string
}

// JSONRecord reads a JSON payload. Paths use gjson syntax. Numbers keep
// their text as written, so ids beyond 2^53 stay exact.
func JSONRecord(payload []byte) (Record, error) {
	if !gjson.ValidBytes(payload) {
		return nil, fmt.Errorf("payload is not valid JSON: %w", crmhub.ErrInvalid)
	}
	return jsonRecord(payload), nil
}

type jsonRecord []byte

// Values reads a gjson path. When the path finds nothing and the
// payload has a top-level key spelled exactly like it, that key is read:
// CSV rows travel as flat objects whose column names may contain dots or
// spaces ("address.city", "date of birth").
func (j jsonRecord) Values(path string) []string {
	res := gjson.GetBytes(j, path)
	if !res.Exists() && strings.ContainsAny(path, ".*?|#@\\!=<>%") {
		res = gjson.GetBytes(j, escapePath(path))
	}
	return values(res)
}

// escapePath escapes gjson's special characters so a path names one key.
func escapePath(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(".*?|#@\\!=<>%", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func values(res gjson.Result) []string {
	switch {
	case !res.Exists() || res.Type == gjson.Null:
		return nil
	case res.IsArray():
		var out []string
		for _, r := range res.Array() {
			out = append(out, values(r)...)
		}
		return out
	case res.Type == gjson.String:
		return []string{res.Str}
	default:
		return []string{res.Raw} // numbers as written, true/false, objects as JSON
	}
}

// CSVRecord is one CSV row, read by column name.
type CSVRecord struct {
	Header map[string]int
	Row    []string
}

// Values returns the cell of the named column.
func (c CSVRecord) Values(column string) []string {
	i, ok := c.Header[column]
	if !ok || i >= len(c.Row) || c.Row[i] == "" {
		return nil
	}
	return []string{c.Row[i]}
}

// Mapped is what the rules make of one record.
type Mapped struct {
	Entity     crmhub.Entity `json:"entity"`
	ExternalID string        `json:"external_id"`
	Version    string        `json:"version,omitempty"`
	// Fields holds each target's values: one for single fields, all of
	// them for list fields (emails, phones, tags).
	Fields map[string][]string `json:"fields"`
	// Items holds the elements of nested targets (an order's line items),
	// each as its fields' values, in the order of the source's array.
	Items map[string][]map[string]string `json:"items,omitempty"`
	// Rejected says, for each field whose value failed its transforms,
	// why. The rest of the record is still mapped: a malformed phone
	// number must not lose the customer's email.
	Rejected map[string]string `json:"rejected,omitempty"`
}

// Options are per-source settings the rules apply with.
type Options struct {
	// DefaultRegion is the country of phone numbers written without a
	// country code, for phone transforms without a region of their own.
	DefaultRegion string
}

// ErrNoID reports a record without an external id; such a record cannot
// be mapped at all.
var ErrNoID = errors.New("record has no id")

// Key returns the external id and the version of one record, as Apply
// would, without mapping its fields: what a receiver needs to land the
// record. It fails, like Apply, when the record has no id.
func (r *Rules) Key(rec Record, opts Options) (id, version string, err error) {
	env := applyEnv{defaultRegion: opts.DefaultRegion}
	ids, err := r.id.run(rec, env)
	if err != nil || len(ids) == 0 || ids[0] == "" {
		return "", "", crmhub.Permanent(fmt.Errorf("%w at %v (mapping %s)", ErrNoID, r.id.from, r.file))
	}
	if r.version != nil {
		if vs, err := r.version.run(rec, env); err == nil && len(vs) > 0 {
			version = vs[0]
		}
	}
	return ids[0], version, nil
}

// Apply maps one record. It fails only when the record has no id; a field
// whose value fails its transforms is left out and listed in Rejected.
func (r *Rules) Apply(rec Record, opts Options) (Mapped, error) {
	env := applyEnv{defaultRegion: opts.DefaultRegion}
	m := Mapped{Entity: r.Entity, Fields: map[string][]string{}}
	var err error
	if m.ExternalID, m.Version, err = r.Key(rec, opts); err != nil {
		return m, err
	}
	for _, f := range r.fields {
		if f.nested {
			items, err := f.runItems(rec, env)
			if err != nil {
				m.reject(f.target, err)
				continue
			}
			if m.Items == nil {
				m.Items = map[string][]map[string]string{}
			}
			m.Items[f.target] = items
			continue
		}
		vals, err := f.run(rec, env)
		if err != nil {
			m.reject(f.target, err)
			continue
		}
		if len(vals) == 0 {
			continue
		}
		if !f.list {
			vals = vals[:1]
		}
		m.Fields[f.target] = vals
	}
	return m, nil
}

func (m *Mapped) reject(target string, err error) {
	if m.Rejected == nil {
		m.Rejected = map[string]string{}
	}
	m.Rejected[target] = err.Error()
}

// runItems maps the elements of a nested target: every value its paths
// find must be a JSON object, read by the item fields as a record of its
// own. An element whose field fails its transforms fails the whole
// target: a line item with a wrong price must not look like a free one.
func (f *field) runItems(rec Record, env applyEnv) ([]map[string]string, error) {
	var elems []string
	for _, p := range f.from {
		elems = append(elems, rec.Values(p)...)
	}
	items := make([]map[string]string, 0, len(elems))
	for i, e := range elems {
		if !gjson.Valid(e) || !gjson.Parse(e).IsObject() {
			return nil, fmt.Errorf("element %d is not an object", i)
		}
		item := map[string]string{}
		for _, sf := range f.items {
			vals, err := sf.run(jsonRecord(e), env)
			if err != nil {
				return nil, fmt.Errorf("element %d: %s: %w", i, sf.target, err)
			}
			if len(vals) > 0 {
				item[sf.target] = vals[0]
			}
		}
		items = append(items, item)
	}
	return items, nil
}

func (f *field) run(rec Record, env applyEnv) ([]string, error) {
	var vals []string
	if f.konst != nil {
		vals = []string{*f.konst}
	} else {
		for _, p := range f.from {
			vals = append(vals, rec.Values(p)...)
		}
	}
	var err error
	for _, s := range f.steps {
		if vals, err = s.fn(vals, env); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	out := vals[:0]
	for _, v := range vals {
		if v = trimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out, nil
}
