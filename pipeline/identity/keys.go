package identity

import (
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
)

// Key kinds. A key is kind, tenant and value joined by "|", so records of
// different tenants never share one.
const (
	kindEmail = "e"
	kindPhone = "p"
	// Blocking keys: cheap, typo-tolerant groupings under which records
	// are compared by the fuzzy rules.
	kindBirthday       = "bd"  // full birthday
	kindNames          = "bn"  // transliteration keys of both names, sorted
	kindLastBirthYear  = "bly" // family name and birth year
	kindFirstBirthYear = "bfy" // given name, birth year and month
	kindFirstPostcode  = "bfp" // given name and postcode
	kindLastPostcode   = "blp" // family name and postcode
	kindFirstCity      = "bfc" // given name and city
	kindEmailLocal     = "bel" // email local part, across domain typos
	kindStreet         = "bs"  // street line and postcode
)

func makeKey(kind, tenant, value string) string { return kind + "|" + tenant + "|" + value }

// keyKind returns the kind of a key.
func keyKind(k string) string {
	kind, _, _ := strings.Cut(k, "|")
	return kind
}

// deterministic reports whether a key links records on its own.
func deterministic(k string) bool {
	kind := keyKind(k)
	return kind == kindEmail || kind == kindPhone
}

// keysOf returns the sorted, distinct keys of a record: its emails and
// phones, unless blocked, and its blocking keys.
func keysOf(f *features, blocked blockedSet) []string {
	var ks []string
	eachKey(f, blocked, func(kind string, parts ...string) {
		ks = append(ks, makeKey(kind, f.tenant, strings.Join(parts, "|")))
	})
	slices.Sort(ks)
	return slices.Compact(ks)
}

// keyHashes returns the hashes of keysOf's keys (hashKey of each), sorted
// and distinct, without building the keys: loading a match index computes
// them for every stored record.
func keyHashes(f *features, blocked blockedSet) []int64 {
	hs := make([]int64, 0, 14)
	eachKey(f, blocked, func(kind string, parts ...string) {
		h := fnvOffset
		h = fnvString(h, kind)
		h = fnvString(h, "|")
		h = fnvString(h, f.tenant)
		h = fnvString(h, "|")
		for i, p := range parts {
			if i > 0 {
				h = fnvString(h, "|")
			}
			h = fnvString(h, p)
		}
		hs = append(hs, int64(h))
	})
	slices.Sort(hs)
	return slices.Compact(hs)
}

// FNV-1a, 64 bits, as hash/fnv computes it.
const (
	fnvOffset uint64 = 14695981039346656037
	fnvPrime  uint64 = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// eachKey calls emit with the kind and value parts of each key of a
// record; a key with an empty part is skipped.
func eachKey(f *features, blocked blockedSet, emit func(kind string, parts ...string)) {
	add := func(kind string, parts ...string) {
		for _, p := range parts {
			if p == "" {
				return
			}
		}
		emit(kind, parts...)
	}
	for _, e := range f.emails {
		if !blocked.blocksEmail(e) {
			add(kindEmail, e)
		}
	}
	for _, p := range f.phones {
		if !blocked.blocksPhone(p) {
			add(kindPhone, p)
		}
	}
	for _, l := range f.locals {
		add(kindEmailLocal, l)
	}
	// Birthday with the initial of either name part, so swapped or
	// missing name parts still meet.
	if f.dobKey != "" {
		add(kindBirthday, f.dobKey, f.first.initial())
		add(kindBirthday, f.dobKey, f.last.initial())
	}
	if !f.first.empty() && !f.last.empty() {
		pair := []string{f.first.trans, f.last.trans}
		slices.Sort(pair)
		add(kindNames, pair...)
	}
	year := ""
	if f.dobKey != "" {
		year = strconv.Itoa(f.dob.Year)
	}
	add(kindLastBirthYear, f.last.trans, year)
	month := ""
	if f.dobKey != "" {
		month = f.dobKey[:6]
	}
	add(kindFirstBirthYear, f.first.trans, month)
	add(kindFirstPostcode, f.first.trans, f.post)
	add(kindLastPostcode, f.last.trans, f.post)
	add(kindFirstCity, f.first.trans, f.cityK, decade(f))
	if !f.street.empty() {
		add(kindStreet, f.streetK, f.post)
	}
}

// decade is the decade of birth ("198"), or "" without a birthday.
func decade(f *features) string {
	if f.dobKey == "" {
		return "-"
	}
	return f.dobKey[:3]
}

// hashKey turns a key into the 64-bit number the store indexes: FNV-1a,
// stable across processes and versions. A collision only makes two
// records candidates; deterministic rules check the shared value itself.
func hashKey(k string) int64 {
	h := fnv.New64a()
	h.Write([]byte(k))
	return int64(h.Sum64())
}

func hashKeys(ks []string) []int64 {
	out := make([]int64, len(ks))
	for i, k := range ks {
		out[i] = hashKey(k)
	}
	return out
}

// sharesValue reports whether two records really share an email or a
// phone, which a deterministic edge needs beyond a shared key hash.
func sharesValue(kind string, a, b *features) bool {
	var xs, ys []string
	switch kind {
	case kindEmail:
		xs, ys = a.emails, b.emails
	case kindPhone:
		xs, ys = a.phones, b.phones
	default:
		return false
	}
	for _, x := range xs {
		if slices.Contains(ys, x) {
			return true
		}
	}
	return false
}
