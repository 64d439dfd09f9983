package identity

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/mapping"
)

// Policy chooses which record supplies a profile field.
type Policy string

// Policies.
const (
	// MostRecent takes the value of the record its source changed last.
	MostRecent Policy = "most_recent"
	// SourcePriority takes the value of the first source in the priority
	// list that has one, the most recent record among equals.
	SourcePriority Policy = "source_priority"
	// MostComplete takes the longest value (for addresses: the one with the
	// most parts), the most recent record among equals.
	MostComplete Policy = "most_complete"
)

// Survivorship holds the policy per profile field.
type Survivorship struct {
	// Default applies to fields without a policy of their own.
	Default Policy
	// SourcePriority lists source names, most trusted first.
	SourcePriority []string
	// Fields maps a field (email, phone, name, birthday, address, locale,
	// attributes.NAME) to its policy.
	Fields map[string]Policy
}

func survivorshipFrom(c config.SurvivorshipConfig) Survivorship {
	s := Survivorship{Default: Policy(c.Default), SourcePriority: slices.Clone(c.SourcePriority)}
	if len(c.Fields) > 0 {
		s.Fields = map[string]Policy{}
		for f, p := range c.Fields {
			s.Fields[f] = Policy(p)
		}
	}
	return s
}

func (s Survivorship) policy(field string) Policy {
	if p, ok := s.Fields[field]; ok && p != "" {
		return p
	}
	if s.Default != "" {
		return s.Default
	}
	return MostRecent
}

// choose returns the index of the record that supplies field, among those
// for which has reports a value, or -1. size measures completeness.
func (s Survivorship) choose(field string, recs []Record, has func(*Record) bool, size func(*Record) int) int {
	policy := s.policy(field)
	best := -1
	for i := range recs {
		if !has(&recs[i]) {
			continue
		}
		if best < 0 || s.better(policy, &recs[i], &recs[best], size) {
			best = i
		}
	}
	return best
}

// better reports whether a beats b under policy; ties go to the more
// recent record, then to the smaller key, so the choice never depends on
// the order of recs.
func (s Survivorship) better(policy Policy, a, b *Record, size func(*Record) int) bool {
	c := 0
	switch policy {
	case SourcePriority:
		c = -cmp.Compare(s.rank(a.Source), s.rank(b.Source))
	case MostComplete:
		c = cmp.Compare(size(a), size(b))
	}
	if c == 0 {
		c = a.At.Compare(b.At)
	}
	if c == 0 {
		c = -a.Key().Compare(b.Key())
	}
	return c > 0
}

func (s Survivorship) rank(source string) int {
	if i := slices.Index(s.SourcePriority, source); i >= 0 {
		return i
	}
	return len(s.SourcePriority)
}

var addressParts = []string{"address.line1", "address.line2", "address.city", "address.region",
	"address.postal_code", "address.country_code"}

// Profile assembles the profile id from its records: each field from the
// record the policy chooses, lists (emails, phones, addresses, tags) as
// the union with the chosen record's values first, consent per channel
// from the latest record that states it, and for every field its source.
func (s Survivorship) Profile(id string, recs []Record) crmhub.Customer {
	// Lists follow key order, so the profile does not depend on the order
	// the records come in.
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(a, b Record) int { return a.Key().Compare(b.Key()) })
	c := crmhub.Customer{ID: id, Provenance: map[string]crmhub.FieldSource{}}
	from := func(field string, r *Record) {
		c.Provenance[field] = crmhub.FieldSource{Source: r.Source, ExternalID: r.ExternalID, At: r.At}
	}
	has := func(fields ...string) func(*Record) bool {
		return func(r *Record) bool {
			for _, f := range fields {
				if r.Field(f) != "" {
					return true
				}
			}
			return false
		}
	}
	length := func(fields ...string) func(*Record) int {
		return func(r *Record) int {
			n := 0
			for _, f := range fields {
				n += len([]rune(r.Field(f)))
			}
			return n
		}
	}
	// Lists: the chosen record's values first, then the others' in key order.
	list := func(field, fieldName string) ([]string, string) {
		i := s.choose(field, recs, has(fieldName), func(r *Record) int { return len(r.Fields[fieldName]) })
		if i < 0 {
			return nil, ""
		}
		from(field, &recs[i])
		out := slices.Clone(recs[i].Fields[fieldName])
		for j := range recs {
			for _, v := range recs[j].Fields[fieldName] {
				if !slices.Contains(out, v) {
					out = append(out, v)
				}
			}
		}
		return out, out[0]
	}
	c.Emails, c.Email = list("email", "emails")
	c.Phones, c.Phone = list("phone", "phones")
	if i := s.choose("name", recs, has("first_name", "last_name"), length("first_name", "last_name")); i >= 0 {
		c.FirstName, c.LastName = recs[i].Field("first_name"), recs[i].Field("last_name")
		from("name", &recs[i])
	}
	if i := s.choose("birthday", recs, has("birthday"), length("birthday")); i >= 0 {
		if d, err := crmhub.ParseDate(recs[i].Field("birthday")); err == nil {
			c.Birthday = d
			from("birthday", &recs[i])
		}
	}
	if i := s.choose("locale", recs, has("locale"), length("locale")); i >= 0 {
		c.Locale = recs[i].Field("locale")
		from("locale", &recs[i])
	}
	count := func(r *Record) int {
		n := 0
		for _, f := range addressParts {
			if r.Field(f) != "" {
				n++
			}
		}
		return n
	}
	if i := s.choose("address", recs, has(addressParts...), count); i >= 0 {
		from("address", &recs[i])
		c.Addresses = append(c.Addresses, addressOf(&recs[i]))
		seen := map[string]bool{addressKey(c.Addresses[0]): true}
		for j := range recs {
			if j == i || !has(addressParts...)(&recs[j]) {
				continue
			}
			a := addressOf(&recs[j])
			if k := addressKey(a); !seen[k] {
				seen[k] = true
				c.Addresses = append(c.Addresses, a)
			}
		}
	}
	for _, ch := range []string{crmhub.ChannelEmail, crmhub.ChannelSMS} {
		field := "consent." + ch
		// Consent is what the person said last, whatever the policy.
		i := -1
		for j := range recs {
			if _, ok := parseConsent(recs[j].Field(field)); ok && (i < 0 || (Survivorship{}).better(MostRecent, &recs[j], &recs[i], nil)) {
				i = j
			}
		}
		if i >= 0 {
			granted, _ := parseConsent(recs[i].Field(field))
			if c.Consent == nil {
				c.Consent = map[string]crmhub.Consent{}
			}
			c.Consent[ch] = crmhub.Consent{Granted: granted, At: recs[i].At, Source: recs[i].Source}
			from(field, &recs[i])
		}
	}
	tags := map[string]bool{}
	attrs := map[string]bool{}
	for j := range recs {
		for _, t := range recs[j].Fields["tags"] {
			tags[t] = true
		}
		for f := range recs[j].Fields {
			if strings.HasPrefix(f, "attributes.") {
				attrs[f] = true
			}
		}
	}
	c.Tags = slices.Sorted(maps.Keys(tags))
	for _, f := range slices.Sorted(maps.Keys(attrs)) {
		if i := s.choose(f, recs, has(f), length(f)); i >= 0 {
			if c.Attributes == nil {
				c.Attributes = map[string]string{}
			}
			c.Attributes[strings.TrimPrefix(f, "attributes.")] = recs[i].Field(f)
			from(f, &recs[i])
		}
	}
	for j := range recs {
		r := &recs[j]
		c.Identities = append(c.Identities, crmhub.Identity{Source: r.Source, Type: r.SourceType, ExternalID: r.ExternalID})
		created := r.At
		if t, err := mapping.ParseTimestamp(r.Field("created_at")); err == nil {
			created = t.UTC()
		}
		if c.CreatedAt.IsZero() || created.Before(c.CreatedAt) {
			c.CreatedAt = created
		}
		if r.At.After(c.UpdatedAt) {
			c.UpdatedAt = r.At
		}
	}
	slices.SortFunc(c.Identities, func(a, b crmhub.Identity) int {
		return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.ExternalID, b.ExternalID))
	})
	if len(c.Provenance) == 0 {
		c.Provenance = nil
	}
	return c
}

func addressOf(r *Record) crmhub.Address {
	return crmhub.Address{Line1: r.Field("address.line1"), Line2: r.Field("address.line2"),
		City: r.Field("address.city"), Region: r.Field("address.region"),
		PostalCode: r.Field("address.postal_code"), CountryCode: r.Field("address.country_code")}
}

func addressKey(a crmhub.Address) string {
	return mapping.StreetKey(a.Line1+" "+a.Line2) + "|" + strings.ToLower(a.PostalCode) + "|" +
		mapping.NameMatchKey(a.City) + "|" + a.CountryCode
}

// parseConsent reads a consent field: yes/no words, booleans, or the
// marketing states Shopify and Klaviyo use.
func parseConsent(v string) (granted, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "subscribed", "granted", "opted_in", "confirmed_opt_in", "single_opt_in", "yes", "y", "1":
		return true, true
	case "unsubscribed", "not_subscribed", "denied", "opted_out", "no", "n", "0", "redacted", "invalid":
		return false, true
	}
	if b, err := strconv.ParseBool(v); err == nil {
		return b, true
	}
	return false, false
}
