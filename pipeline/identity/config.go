package identity

import (
	"slices"
	"strings"

	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/mapping"
)

// Config holds the rules of identity resolution.
type Config struct {
	// Email and Phone turn on the deterministic rules.
	Email, Phone bool
	// Fuzzy rules link records whose score on the rule's fields reaches
	// the rule's threshold.
	Fuzzy []FuzzyRule
	// Blocked values never link records.
	Blocked []string
	// MaxPeoplePerKey is how many different people (told apart by name)
	// may share one email or phone before it stops linking anyone.
	MaxPeoplePerKey int
	// MaxBlockSize is how many records one blocking key may hold before it
	// stops producing candidates; such a key is too common to tell people
	// apart.
	MaxBlockSize int
	// Prior is the log2 odds that two candidate records are the same
	// person before any field is compared.
	Prior float64
	// Survivorship chooses each profile field among the records.
	Survivorship Survivorship
}

// FuzzyRule is one probabilistic rule.
type FuzzyRule struct {
	Fields    []string
	Threshold float64
	set       fieldSet
}

// Defaults of Config.
const (
	DefaultMaxPeoplePerKey = 5
	DefaultMaxBlockSize    = 1000
	DefaultPrior           = -10
)

// DefaultBlocked are placeholder values that never link anyone, whatever
// the configuration says.
var DefaultBlocked = []string{"test@test.com", "test@example.com", "noemail@noemail.com",
	"none@none.com", "no@email.com", "na@na.com", "email@email.com"}

// ConfigFrom translates the identity section of the configuration.
func ConfigFrom(c config.IdentityConfig) Config {
	cfg := Config{MaxPeoplePerKey: c.MaxProfilesPerKey, Blocked: slices.Clone(c.BlockedValues)}
	for _, r := range c.Match {
		switch {
		case len(r.Fuzzy) > 0:
			cfg.Fuzzy = append(cfg.Fuzzy, FuzzyRule{Fields: r.Fuzzy, Threshold: r.Threshold})
		case r.Field == "email":
			cfg.Email = true
		case r.Field == "phone":
			cfg.Phone = true
		}
	}
	cfg.Survivorship = survivorshipFrom(c.Survivorship)
	return cfg
}

// normalize fills defaults and derived fields.
func (c Config) normalize() Config {
	if c.MaxPeoplePerKey <= 0 {
		c.MaxPeoplePerKey = DefaultMaxPeoplePerKey
	}
	if c.MaxBlockSize <= 0 {
		c.MaxBlockSize = DefaultMaxBlockSize
	}
	if c.Prior == 0 {
		c.Prior = DefaultPrior
	}
	c.Fuzzy = slices.Clone(c.Fuzzy)
	for i := range c.Fuzzy {
		c.Fuzzy[i].set = fieldSetOf(c.Fuzzy[i].Fields)
	}
	return c
}

// blockedSet holds the blocked values in the forms keys take.
type blockedSet map[string]bool

func newBlockedSet(values []string) blockedSet {
	b := blockedSet{}
	for _, v := range append(slices.Clone(DefaultBlocked), values...) {
		v = strings.TrimSpace(v)
		if e, err := mapping.NormalizeEmail(v); err == nil {
			b["e|"+mapping.EmailMatchKey(e)] = true
			continue
		}
		// Only the digits of a number count, however it is written.
		if d := onlyDigits(mapping.Digits(v)); d != "" {
			b["d|"+d] = true
		}
	}
	return b
}

// blocksEmail reports whether an email match key is blocked.
func (b blockedSet) blocksEmail(key string) bool { return b["e|"+key] }

// blocksPhone reports whether a phone is blocked: a blocked value of seven
// or more digits blocks every number that ends in it, so "0000000" blocks
// +9710000000 as well.
func (b blockedSet) blocksPhone(e164 string) bool {
	digits := strings.TrimPrefix(e164, "+")
	for v := range b {
		d, ok := strings.CutPrefix(v, "d|")
		if ok && (d == digits || (len(d) >= 7 && strings.HasSuffix(digits, d))) {
			return true
		}
	}
	return false
}

func onlyDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
