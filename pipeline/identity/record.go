package identity

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/mapping"
)

// Key names one record: its source and its id there.
type Key struct {
	Source     string `json:"source"`
	ExternalID string `json:"external_id"`
}

// String formats the key as source:external_id, the form the CLI accepts.
func (k Key) String() string { return k.Source + ":" + k.ExternalID }

// Compare orders keys by source, then external id.
func (k Key) Compare(o Key) int {
	return cmp.Or(strings.Compare(k.Source, o.Source), strings.Compare(k.ExternalID, o.ExternalID))
}

// ParseKey reads source:external_id. The external id may contain colons.
func ParseKey(s string) (Key, bool) {
	src, id, ok := strings.Cut(s, ":")
	if !ok || src == "" || id == "" {
		return Key{}, false
	}
	return Key{Source: src, ExternalID: id}, true
}

// Record is one customer record of one source, as its mapping made it.
type Record struct {
	Source     string `json:"source"`
	SourceType string `json:"source_type,omitempty"`
	// Tenant separates shops: records of different tenants never share a
	// profile.
	Tenant     string `json:"tenant,omitempty"`
	ExternalID string `json:"external_id"`
	Version    string `json:"version,omitempty"`
	// Fields are the canonical customer fields (see mapping), normalized:
	// emails lower-case, phones E.164, birthday ISO 8601.
	Fields map[string][]string `json:"fields"`
	// At is when the source last changed the record, for "most recent"
	// survivorship.
	At time.Time `json:"at,omitzero"`
}

// Key returns the record's key.
func (r *Record) Key() Key { return Key{Source: r.Source, ExternalID: r.ExternalID} }

// Field returns the first value of a field, or "".
func (r *Record) Field(name string) string {
	if v := r.Fields[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Identifiable reports whether the record carries anything that tells a
// person apart: an email, a phone or a name.
func (r *Record) Identifiable() bool {
	for _, f := range []string{"emails", "phones", "first_name", "last_name"} {
		if r.Field(f) != "" {
			return true
		}
	}
	return false
}

// Source describes where a record came from, for NewRecord.
type Source struct {
	Name, Type, Tenant string
	// DefaultRegion is used for phone numbers without a country code.
	DefaultRegion string
}

// NewRecord makes a Record of a mapped customer record. It normalizes
// emails and phones (a value that does not normalize is left out and
// reported in the returned map of rejected fields, as the mapping does),
// cleans names, birthday, country and postcode, and takes At from
// updated_at, the version or received, in that order.
func NewRecord(src Source, m mapping.Mapped, received time.Time) (Record, map[string]string) {
	r := Record{Source: src.Name, SourceType: src.Type, Tenant: src.Tenant, ExternalID: m.ExternalID,
		Version: m.Version, Fields: make(map[string][]string, len(m.Fields))}
	rejected := map[string]string{}
	for k, v := range m.Rejected {
		rejected[k] = v
	}
	add := func(field, v string) {
		if v != "" && !containsString(r.Fields[field], v) {
			r.Fields[field] = append(r.Fields[field], v)
		}
	}
	// Sorted, so "email" comes before "emails" and stays the primary one.
	for _, field := range slices.Sorted(maps.Keys(m.Fields)) {
		for _, v := range m.Fields[field] {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			switch field {
			case "email", "emails":
				e, err := mapping.NormalizeEmail(v)
				if err != nil {
					rejected[field] = err.Error()
					continue
				}
				add("emails", e)
			case "phone", "phones":
				p, err := mapping.NormalizePhone(v, src.DefaultRegion)
				if err != nil {
					rejected[field] = err.Error()
					continue
				}
				add("phones", p)
			case "first_name", "last_name", "name":
				add(field, mapping.NormalizeName(v))
			case "birthday":
				d, err := mapping.ParseDate(v, "")
				if err != nil || !mapping.ValidBirthday(d, received) {
					rejected[field] = "not a plausible birthday: " + abbreviate(v)
					continue
				}
				add(field, d.String())
			case "address.country_code":
				c, err := mapping.NormalizeCountry(v)
				if err != nil {
					rejected[field] = err.Error()
					continue
				}
				add(field, c)
			default:
				add(field, v)
			}
		}
	}
	if pc := r.Field("address.postal_code"); pc != "" {
		r.Fields["address.postal_code"] = []string{mapping.NormalizePostcode(pc, r.Field("address.country_code"))}
	}
	// A single "name" field is split into first and last when the mapping
	// gave no separate parts.
	if n := r.Field("name"); n != "" && r.Field("first_name") == "" && r.Field("last_name") == "" {
		first, last, _ := strings.Cut(n, " ")
		add("first_name", first)
		add("last_name", strings.TrimSpace(last))
	}
	delete(r.Fields, "name")
	r.At = received
	for _, s := range []string{r.Field("updated_at"), m.Version} {
		// A sequence number ("42") is a version, not a time; only a
		// plausible time can say which record is more recent.
		if t, err := mapping.ParseTimestamp(s); s != "" && err == nil && plausibleTime(t, received) {
			r.At = t.UTC()
			break
		}
	}
	if len(rejected) == 0 {
		rejected = nil
	}
	return r, rejected
}

func containsString(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func abbreviate(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// birthday returns the record's birthday, or the zero Date.
func (r *Record) birthday() crmhub.Date {
	d, err := crmhub.ParseDate(r.Field("birthday"))
	if err != nil {
		return crmhub.Date{}
	}
	return d
}

// plausibleTime reports whether t can be when a source changed a record
// received at received: after 1990 and not after it arrived (a day of
// clock skew allowed).
func plausibleTime(t, received time.Time) bool {
	return t.Year() >= 1990 && !t.After(received.Add(24*time.Hour))
}
