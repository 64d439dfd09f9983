package mapping

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Limits from RFC 5321 section 4.5.3.1 and RFC 1035 section 2.3.4.
const (
	maxLocalPart = 64
	maxDomain    = 253
	maxLabel     = 63
)

// NormalizeEmail returns the stored form of an email address: trimmed of
// white space and invisible characters, without a "mailto:" prefix or
// surrounding angle brackets, lower-cased, with an internationalized domain
// in punycode (info@müller.de becomes info@xn--mller-kva.de).
//
// The local part keeps what was typed except for case (and NFKC, which
// leaves ASCII alone and folds fullwidth forms): dots and +tags are part of
// the address a message is sent to. EmailMatchKey folds those for identity
// resolution.
//
// It rejects what is not a single plain address: a display name
// ("Sara <sara@example.com>"), no or several @, an empty or over-long local
// part, a quoted local part, white space, or a domain that is not a valid
// host name with at least one dot. Errors wrap crmhub.ErrInvalid.
func NormalizeEmail(s string) (string, error) {
	orig := s
	s = dropInvisible(strings.TrimFunc(s, isSpaceOrInvisible))
	if rest, ok := cutPrefixFold(s, "mailto:"); ok {
		// A mailto URI may carry headers: mailto:a@b.com?subject=Hi.
		s, _, _ = strings.Cut(rest, "?")
	}
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return "", invalid("email", orig, "empty")
	}
	if !utf8.ValidString(s) {
		return "", invalid("email", orig, "not UTF-8")
	}
	// NFKC folds fullwidth forms typed with CJK input methods (＠, ．);
	// ASCII is unchanged.
	s = norm.NFKC.String(s)
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return "", invalid("email", orig, "contains white space")
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok {
		return "", invalid("email", orig, "no @")
	}
	if strings.Contains(domain, "@") {
		return "", invalid("email", orig, "more than one @")
	}
	local = strings.ToLower(local)
	if reason := checkLocalPart(local); reason != "" {
		return "", invalid("email", orig, reason)
	}
	ascii, reason := emailDomain(domain)
	if reason != "" {
		return "", invalid("email", orig, reason)
	}
	return local + "@" + ascii, nil
}

// checkLocalPart returns why local is not a dot-atom local part (RFC 5322
// section 3.4.1, with UTF-8 letters allowed as in RFC 6532), or "".
// Quoted local parts are valid mail but never what a person meant to type
// into a form, so they are rejected.
func checkLocalPart(local string) string {
	switch {
	case local == "":
		return "empty local part"
	case len(local) > maxLocalPart:
		return "local part longer than 64 bytes"
	case local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, ".."):
		return "misplaced dot in local part"
	}
	for _, r := range local {
		if r < utf8.RuneSelf {
			if !isAtext(byte(r)) && r != '.' {
				return "character " + strconv.QuoteRune(r) + " not allowed in local part"
			}
			continue
		}
		if !unicode.In(r, unicode.L, unicode.M, unicode.N) {
			return "character not allowed in local part"
		}
	}
	return ""
}

// isAtext reports whether c is an RFC 5322 atext character.
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// emailDomain returns the lower-case ASCII (punycode) form of a mail domain,
// or why it is not a host name that can receive mail.
func emailDomain(domain string) (string, string) {
	domain = strings.TrimSuffix(domain, ".") // the root of a fully qualified name
	if domain == "" {
		return "", "empty domain"
	}
	// The Lookup profile is the one for resolving names: it maps case and
	// width, applies UTS 46 and the STD3 letter-digit-hyphen rule.
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", "domain is not a valid host name"
	}
	if len(ascii) > maxDomain {
		return "", "domain longer than 253 bytes"
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", "domain has no dot"
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabel {
			return "", "domain has an empty or over-long label"
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		// 10.0.0.1 passes the host-name rules; a top-level domain is never numeric.
		return "", "domain is an IP address"
	}
	return ascii, ""
}

// EmailMatchKey returns the key under which identity resolution compares an
// address already normalized by NormalizeEmail. It is only for matching:
// store and send to the normalized address, never to the key.
//
// The key drops a +tag from the local part for every domain
// (sara+shop@example.com matches sara@example.com), and for Gmail, where
// dots in the local part are ignored and googlemail.com is the same mailbox,
// removes the dots and uses gmail.com. A value without @ is returned as is.
func EmailMatchKey(normalized string) string {
	i := strings.LastIndexByte(normalized, '@')
	if i < 0 {
		return normalized
	}
	local, domain := normalized[:i], normalized[i+1:]
	if j := strings.IndexByte(local, '+'); j > 0 {
		local = local[:j]
	}
	if domain == "gmail.com" || domain == "googlemail.com" {
		domain = "gmail.com"
		if k := strings.ReplaceAll(local, ".", ""); k != "" {
			local = k
		}
	}
	return local + "@" + domain
}
