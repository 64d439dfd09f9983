package identity

import (
	"slices"
	"strings"

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
	street []rune
	city   []rune
	cityK  string
	post   string
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
	runes []rune
	trans string // TransliterationKey
}

func newName(s string) name {
	k := mapping.NameMatchKey(s)
	if k == "" {
		return name{}
	}
	return name{key: k, runes: []rune(k), trans: mapping.TransliterationKey(s)}
}

func (n name) empty() bool { return n.key == "" }

func (n name) initial() string {
	if n.empty() {
		return ""
	}
	return string(n.runes[0])
}

func featuresOf(r *Record) *features {
	f := &features{key: r.Key(), tenant: r.Tenant}
	for _, e := range r.Fields["emails"] {
		k := mapping.EmailMatchKey(e)
		f.emails = append(f.emails, k)
		if local, _, ok := strings.Cut(k, "@"); ok && len(local) >= 4 {
			f.locals = append(f.locals, local)
		}
	}
	f.phones = append(f.phones, r.Fields["phones"]...)
	f.first = newName(r.Field("first_name"))
	f.last = newName(r.Field("last_name"))
	if f.dob = r.birthday(); !f.dob.IsZero() {
		f.dobKey = strings.ReplaceAll(f.dob.String(), "-", "")
	}
	if s := mapping.StreetKey(strings.TrimSpace(r.Field("address.line1") + " " + r.Field("address.line2"))); s != "" {
		f.street = []rune(s)
	}
	if c := mapping.NameMatchKey(r.Field("address.city")); c != "" {
		f.cityK, f.city = c, []rune(c)
	}
	f.post = strings.ToLower(strings.ReplaceAll(r.Field("address.postal_code"), " ", ""))
	var sig []string
	for _, n := range []name{f.first, f.last} {
		if !n.empty() {
			sig = append(sig, n.trans)
		}
	}
	slices.Sort(sig)
	f.signature = strings.Join(sig, " ")
	return f
}
