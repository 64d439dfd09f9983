package shopify

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crmhub/crmhub"
)

// DefaultTagPrefix marks the customer tags crmhub owns. A destination
// adds and removes tags with its prefix only; every other tag belongs to
// the merchant and other apps.
const DefaultTagPrefix = "crmhub:"

// MetafieldNamespace is the namespace of the customer metafields crmhub
// writes. Everything in it is crmhub's.
const MetafieldNamespace = "crmhub"

// Keys of the customer metafields crmhub writes, in MetafieldNamespace.
const (
	// MetafieldUnifiedID is the profile's id (single_line_text_field),
	// on every customer crmhub pushes to.
	MetafieldUnifiedID = "unified_id"
	// MetafieldSegments lists the profile's segments
	// (list.single_line_text_field).
	MetafieldSegments = "segments"
	// MetafieldRFMSegment is the profile's RFM segment
	// (single_line_text_field).
	MetafieldRFMSegment = "rfm_segment"
	// MetafieldRFMScore is the profile's R, F and M scores as three digits,
	// "545" (single_line_text_field).
	MetafieldRFMScore = "rfm_score"
	// MetafieldCLV is the profile's lifetime value in the shop's currency
	// (number_decimal).
	MetafieldCLV = "clv"
)

// metafieldKeys are all keys crmhub writes.
var metafieldKeys = []string{MetafieldUnifiedID, MetafieldSegments, MetafieldRFMSegment, MetafieldRFMScore, MetafieldCLV}

// maxTagLength is the longest tag Shopify keeps, in characters.
const maxTagLength = 255

// Metafield is one metafield value as the Admin API takes it: its type and
// its value as text.
type Metafield struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Tags returns the customer tags crmhub owns for the profile c, sorted:
// prefix + "segment-" + the slug of each of its segments, and prefix +
// "rfm-" + the slug of its RFM segment. A slug is the name in lower case
// with every run of characters other than letters and digits made one
// "-" ("Champions" → "champions", "At risk" → "at-risk"). A profile
// without segments has no tags of crmhub's; the profile's own tags are
// never among them, so the tags a push wrote and Shopify echoed back into
// the profile do not feed the next push.
func Tags(c crmhub.Customer, prefix string) []string {
	set := map[string]bool{}
	add := func(kind, name string) {
		if s := slug(name); s != "" {
			set[clip(prefix+kind+"-"+s, maxTagLength)] = true
		}
	}
	for _, s := range c.Segments {
		add("segment", s)
	}
	if c.RFM != nil {
		add("rfm", c.RFM.Segment)
	}
	return slices.Sorted(maps.Keys(set))
}

// Metafields returns the customer metafields crmhub writes for the profile
// c, by key: the unified id always; segments, RFM segment and score, and
// lifetime value when the profile has them.
func Metafields(c crmhub.Customer) map[string]Metafield {
	out := map[string]Metafield{MetafieldUnifiedID: {Type: "single_line_text_field", Value: c.ID}}
	if len(c.Segments) > 0 {
		b, _ := json.Marshal(c.Segments)
		out[MetafieldSegments] = Metafield{Type: "list.single_line_text_field", Value: string(b)}
	}
	if r := c.RFM; r != nil {
		if r.Segment != "" {
			out[MetafieldRFMSegment] = Metafield{Type: "single_line_text_field", Value: r.Segment}
		}
		out[MetafieldRFMScore] = Metafield{Type: "single_line_text_field", Value: fmt.Sprintf("%d%d%d", r.R, r.F, r.M)}
	}
	if c.CLV != nil {
		out[MetafieldCLV] = Metafield{Type: "number_decimal", Value: c.CLV.String()}
	}
	return out
}

// slug writes a name in lower case with runs of other characters than
// letters and digits as one "-".
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	return b.String()
}

// clip shortens s to at most n characters.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// owned returns the tags among tags that carry prefix, in any case:
// Shopify compares tags without regard to case.
func owned(tags []string, prefix string) []string {
	var out []string
	for _, t := range tags {
		if len(t) >= len(prefix) && strings.EqualFold(t[:len(prefix)], prefix) {
			out = append(out, t)
		}
	}
	return out
}

// pushed is what a destination wrote to one customer, as it keeps it in
// the store (store.PushState.Pushed).
type pushed struct {
	Tags       []string             `json:"tags,omitempty"`
	Metafields map[string]Metafield `json:"metafields,omitempty"`
}

// change is what one push sends to a customer.
type change struct {
	addTags, removeTags []string
	setMetafields       map[string]Metafield
	deleteMetafields    []string
}

func (c change) empty() bool {
	return len(c.addTags)+len(c.removeTags)+len(c.setMetafields)+len(c.deleteMetafields) == 0
}

// tagChange is what brings the owned tags a customer has (known) to want.
func tagChange(want, known []string) (add, remove []string) {
	has := map[string]bool{}
	for _, t := range known {
		has[strings.ToLower(t)] = true
	}
	wanted := map[string]bool{}
	for _, t := range want {
		wanted[strings.ToLower(t)] = true
		if !has[strings.ToLower(t)] {
			add = append(add, t)
		}
	}
	for _, t := range known {
		if !wanted[strings.ToLower(t)] {
			remove = append(remove, t)
		}
	}
	return add, remove
}

// metafieldChange is what brings the metafields crmhub last wrote (last)
// to want: the values that differ are set, the keys want no longer has
// are deleted.
func metafieldChange(want, last map[string]Metafield) (set map[string]Metafield, del []string) {
	for k, v := range want {
		if old, ok := last[k]; !ok || old != v {
			if set == nil {
				set = map[string]Metafield{}
			}
			set[k] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(last)) {
		if _, ok := want[k]; !ok {
			del = append(del, k)
		}
	}
	return set, del
}

// newer reports whether Shopify version a (an updated_at, RFC 3339) is
// later than b. When b is unknown a is newer; when a cannot be read it
// is not.
func newer(a, b string) bool {
	if b == "" {
		return true
	}
	ta, err := time.Parse(time.RFC3339, a)
	if err != nil {
		return false
	}
	tb, err := time.Parse(time.RFC3339, b)
	if err != nil {
		return true
	}
	return ta.After(tb)
}
