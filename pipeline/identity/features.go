package identity

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/mapping"
)

// features are the match keys of one record, computed once per record.
type features struct {
	key    Key
	tenant string
	emails []string // EmailMatchKey of each email
	locals []string // local parts of emails, for blocking across domain typos
	phones []string
	first  name
	last   name
	dob    crmhub.Date
	dobKey string // YYYYMMDD, for edit-distance comparison
	street text
	// streetK and cityK are street and city as strings.
	streetK string
	city    text
	cityK   string
	post    string
	// signature tells people apart under one shared email or phone: the
	// sorted transliteration keys of the name.
	signature string
	// constrained is set when the record takes part in an unmerge
	// constraint.
	constrained bool
}

// name is one name part in the forms the comparison needs.
type name struct {
	key   string // NameMatchKey
	text  text   // key, for similarity
	trans string // TransliterationKey
}

func newName(s string) name {
	k := mapping.NameMatchKey(s)
	if k == "" {
		return name{}
	}
	return name{key: k, text: newText(k), trans: mapping.TransliterationKeyOf(k)}
}

func (n name) empty() bool { return n.key == "" }

func (n name) initial() string {
	if n.empty() {
		return ""
	}
	return string(n.text.first())
}

func featuresOf(r *Record) *features {
	f := &features{key: r.Key(), tenant: r.Tenant}
	for _, e := range r.Fields["emails"] {
		k := mapping.EmailMatchKey(e)
		f.emails = append(f.emails, k)
		if l := localKey(k); len(l) >= 4 {
			f.locals = append(f.locals, l)
		}
	}
	f.phones = append(f.phones, r.Fields["phones"]...)
	f.first = newName(r.Field("first_name"))
	f.last = newName(r.Field("last_name"))
	if f.dob = r.birthday(); !f.dob.IsZero() {
		f.dobKey = strings.ReplaceAll(f.dob.String(), "-", "")
	}
	if s := mapping.StreetKey(strings.TrimSpace(r.Field("address.line1") + " " + r.Field("address.line2"))); s != "" {
		f.streetK, f.street = s, newText(s)
	}
	if c := mapping.NameMatchKey(r.Field("address.city")); c != "" {
		f.cityK, f.city = c, newText(c)
	}
	f.post = strings.ToLower(strings.ReplaceAll(r.Field("address.postal_code"), " ", ""))
	f.signature = signatureOf(f)
	return f
}

// Field and list separators of encoded features: control characters no
// normalized value contains.
const (
	featSep  = "\x1f"
	featList = "\x1e"
	featVer  = "f1"
)

// encode writes the features a comparison needs, so a candidate is
// compared without normalizing its record again.
func (f *features) encode() string {
	return strings.Join([]string{featVer, f.tenant, strings.Join(f.emails, featList), strings.Join(f.phones, featList),
		f.first.key, f.first.trans, f.last.key, f.last.trans, f.dobKey, f.streetK, f.cityK, f.post}, featSep)
}

// decodeFeatures reads encode's output; ok is false for anything else
// (an older encoding), and the caller derives the features from the record.
func decodeFeatures(s string, key Key) (*features, bool) {
	parts, ok := splitFeatures(s)
	if !ok {
		return nil, false
	}
	f := &features{key: key, tenant: parts[1]}
	if parts[2] != "" {
		f.emails = strings.Split(parts[2], featList)
		for _, e := range f.emails {
			if l := localKey(e); len(l) >= 4 {
				f.locals = append(f.locals, l)
			}
		}
	}
	if parts[3] != "" {
		f.phones = strings.Split(parts[3], featList)
	}
	f.first = name{key: parts[4], trans: parts[5], text: newText(parts[4])}
	f.last = name{key: parts[6], trans: parts[7], text: newText(parts[6])}
	f.dobKey = parts[8]
	f.dob = dobOf(f.dobKey)
	f.streetK = parts[9]
	f.street = newText(parts[9])
	f.cityK = parts[10]
	f.city = newText(f.cityK)
	f.post = parts[11]
	f.signature = signatureOf(f)
	return f, true
}

// splitFeatures cuts encoded features into their fields by hand, into an
// array: a match index decodes thousands of candidates per batch, and this
// keeps each to a few allocations.
func splitFeatures(s string) (parts [12]string, ok bool) {
	rest := s
	for i := range parts {
		var found bool
		parts[i], rest, found = strings.Cut(rest, featSep)
		if found != (i < len(parts)-1) {
			return parts, false
		}
	}
	return parts, parts[0] == featVer
}

// decodeBound reads into f only what bound and the tenant check need:
// most candidates are ruled out by those, and the runes of names, street
// and city are the expensive part of decoding. f is reset first.
func decodeBound(s string, key Key, f *features) bool {
	parts, ok := splitFeatures(s)
	if !ok {
		return false
	}
	*f = features{key: key, tenant: parts[1], dobKey: parts[8], streetK: parts[9], cityK: parts[10], post: parts[11],
		first: name{key: parts[4], trans: parts[5]}, last: name{key: parts[6], trans: parts[7]}}
	if parts[2] != "" {
		f.emails = strings.Split(parts[2], featList)
	}
	if parts[3] != "" {
		f.phones = strings.Split(parts[3], featList)
	}
	f.dob = dobOf(f.dobKey)
	return true
}

// dobOf reads a birthday key (YYYYMMDD).
func dobOf(k string) crmhub.Date {
	if len(k) < 5 {
		return crmhub.Date{}
	}
	y, _ := strconv.Atoi(k[:len(k)-4])
	m, _ := strconv.Atoi(k[len(k)-4 : len(k)-2])
	d, _ := strconv.Atoi(k[len(k)-2:])
	return crmhub.Date{Year: y, Month: time.Month(m), Day: d}
}

func signatureOf(f *features) string {
	var sig []string
	for _, n := range []name{f.first, f.last} {
		if !n.empty() {
			sig = append(sig, n.trans)
		}
	}
	slices.Sort(sig)
	return strings.Join(sig, " ")
}

// localKey is an email's local part without dots and +tag, whatever the
// domain: a blocking key that meets across a mistyped domain
// (sara.haddad@gmial.com, sarahaddad@gmail.com).
func localKey(email string) string {
	local, _, ok := strings.Cut(email, "@")
	if !ok {
		return ""
	}
	local, _, _ = strings.Cut(local, "+")
	return strings.ReplaceAll(local, ".", "")
}
