package crmhub

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Customer is the unified profile: one per person, assembled from every
// record that identity resolution attributed to them.
//
// Emails and phones hold normalized values (lower-case email, E.164 phone);
// Email and Phone are the primary ones and appear in the lists as well.
type Customer struct {
	ID         string             `json:"id"`
	Email      string             `json:"email,omitempty"`
	Emails     []string           `json:"emails,omitempty"`
	Phone      string             `json:"phone,omitempty"`
	Phones     []string           `json:"phones,omitempty"`
	FirstName  string             `json:"first_name,omitempty"`
	LastName   string             `json:"last_name,omitempty"`
	Birthday   Date               `json:"birthday,omitzero"`
	Addresses  []Address          `json:"addresses,omitempty"`
	Locale     string             `json:"locale,omitempty"`
	Consent    map[string]Consent `json:"consent,omitempty"`
	Tags       []string           `json:"tags,omitempty"`
	Stats      *Stats             `json:"stats,omitempty"`
	RFM        *RFM               `json:"rfm,omitempty"`
	CLV        *decimal.Decimal   `json:"clv,omitempty"`
	Segments   []string           `json:"segments,omitempty"`
	Attributes map[string]string  `json:"attributes,omitempty"`
	// Provenance says, for each profile field ("email", "last_name",
	// "attributes.tier", ...), which source record supplied its value.
	Provenance map[string]FieldSource `json:"provenance,omitempty"`
	// Identities, MergedInto, CreatedAt and UpdatedAt come last: the store
	// keeps them out of the profile's document and writes an export's
	// lines by appending them to it (see store.EachCustomerJSON).
	Identities []Identity `json:"identities,omitempty"`
	// MergedInto is set on a profile that was merged into another one; its
	// id stays valid and points at the survivor.
	MergedInto string    `json:"merged_into,omitempty"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
}

// Identity links a profile to a record in one source system.
type Identity struct {
	Source     string `json:"source"`      // configured source name, e.g. "main-store"
	Type       string `json:"type"`        // connector type, e.g. "shopify"
	ExternalID string `json:"external_id"` // the record's id in that system, always a string
}

// Address is a postal address. CountryCode is ISO 3166-1 alpha-2.
type Address struct {
	Line1       string `json:"line1,omitempty"`
	Line2       string `json:"line2,omitempty"`
	City        string `json:"city,omitempty"`
	Region      string `json:"region,omitempty"`
	PostalCode  string `json:"postal_code,omitempty"`
	CountryCode string `json:"country_code,omitempty"`
}

// Consent channels.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
)

// Consent records whether a person agreed to marketing on one channel, and
// when.
type Consent struct {
	Granted bool      `json:"granted"`
	At      time.Time `json:"at,omitzero"`
	Source  string    `json:"source,omitempty"`
}

// Stats are order statistics computed from the profile's orders.
type Stats struct {
	OrdersCount  int             `json:"orders_count"`
	TotalSpent   decimal.Decimal `json:"total_spent"`
	Currency     string          `json:"currency,omitempty"`
	AOV          decimal.Decimal `json:"aov"`
	FirstOrderAt time.Time       `json:"first_order_at,omitzero"`
	LastOrderAt  time.Time       `json:"last_order_at,omitzero"`
}

// RFM holds recency, frequency and monetary scores (1 to 5) and the segment
// they put the customer in.
type RFM struct {
	R       int    `json:"r"`
	F       int    `json:"f"`
	M       int    `json:"m"`
	Segment string `json:"segment,omitempty"`
}

// FieldSource is the provenance of one profile field.
type FieldSource struct {
	Source     string    `json:"source"`
	ExternalID string    `json:"external_id"`
	At         time.Time `json:"at,omitzero"`
}

var (
	e164Pattern     = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	countryPattern  = regexp.MustCompile(`^[A-Z]{2}$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Validate checks the invariants of a profile: an id made by NewID, primary
// email and phone present in their lists, phones in E.164, complete and
// distinct identities, ISO country and currency codes, RFM scores in 1..5.
// Errors wrap ErrInvalid.
func (c *Customer) Validate() error {
	if !HasIDPrefix(c.ID, CustomerIDPrefix) {
		return invalidf("customer id %q: want %s_<ulid>", c.ID, CustomerIDPrefix)
	}
	if c.Email != "" && !slices.Contains(c.Emails, c.Email) {
		return invalidf("customer %s: primary email is not among its emails", c.ID)
	}
	if c.Phone != "" && !slices.Contains(c.Phones, c.Phone) {
		return invalidf("customer %s: primary phone is not among its phones", c.ID)
	}
	for _, p := range c.Phones {
		if !e164Pattern.MatchString(p) {
			return invalidf("customer %s: phone %q is not E.164", c.ID, p)
		}
	}
	if !c.Birthday.IsZero() && !c.Birthday.Valid() {
		return invalidf("customer %s: birthday %v is not a calendar date", c.ID, c.Birthday)
	}
	seen := make(map[Identity]bool, len(c.Identities))
	for _, id := range c.Identities {
		if id.Source == "" || id.ExternalID == "" {
			return invalidf("customer %s: identity needs a source and an external id", c.ID)
		}
		if seen[id] {
			return invalidf("customer %s: identity %s/%s listed twice", c.ID, id.Source, id.ExternalID)
		}
		seen[id] = true
	}
	for _, a := range c.Addresses {
		if a.CountryCode != "" && !countryPattern.MatchString(a.CountryCode) {
			return invalidf("customer %s: country code %q is not ISO 3166-1 alpha-2", c.ID, a.CountryCode)
		}
	}
	if c.Stats != nil && c.Stats.Currency != "" && !currencyPattern.MatchString(c.Stats.Currency) {
		return invalidf("customer %s: currency %q is not ISO 4217", c.ID, c.Stats.Currency)
	}
	if r := c.RFM; r != nil {
		for _, s := range []int{r.R, r.F, r.M} {
			if s < 1 || s > 5 {
				return invalidf("customer %s: RFM scores must be 1..5, got %d/%d/%d", c.ID, r.R, r.F, r.M)
			}
		}
	}
	return nil
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrInvalid)...)
}
