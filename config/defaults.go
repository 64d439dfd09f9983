package config

import (
	"path/filepath"
	"strings"
	"time"
)

// Defaults for keys left out of the file.
const (
	DefaultStoreDSN          = "crmhub.db"
	DefaultListen            = ":8080"
	DefaultReadTimeout       = Duration(10 * time.Second)
	DefaultWriteTimeout      = Duration(30 * time.Second)
	DefaultIdleTimeout       = Duration(2 * time.Minute)
	DefaultMaxBodyBytes      = 1 << 20
	DefaultPageSizeMax       = 1000
	DefaultRateLimit         = 20.0
	DefaultRateBurst         = 40
	DefaultShopifyAPIVersion = "2026-01"
	DefaultShopifyBackfill   = Duration(60 * Day)
	DefaultShopifyOverlap    = Duration(5 * time.Minute)
	DefaultGA4Lookback       = Duration(3 * Day)
	DefaultMetaAPIVersion    = "v21.0"
	DefaultSignatureHeader   = "X-Signature-256"
	DefaultTagPrefix         = "crmhub:"
	DefaultNATSStreamPrefix  = "crmhub"
	DefaultMaxProfilesPerKey = 5
)

// ApplyDefaults fills in every key that was left empty and has a default.
// It is idempotent; Load and Parse call it before Validate.
func (c *Config) ApplyDefaults() {
	setDefault(&c.Store.Driver, "sqlite")
	if c.Store.DSN == "" && c.Store.Driver == "sqlite" {
		c.Store.DSN = DefaultStoreDSN
	}
	if c.Store.Driver == "sqlite" {
		setDefault(&c.Store.Synchronous, "full")
	}

	setDefault(&c.Bus.Driver, "sqlite")
	// One database for both is the embedded default and the common case.
	if c.Bus.DSN == "" && c.Bus.Driver == c.Store.Driver {
		c.Bus.DSN = c.Store.DSN
	}
	if c.Bus.NATS != nil {
		setDefault(&c.Bus.NATS.StreamPrefix, DefaultNATSStreamPrefix)
	}

	setDefault(&c.HTTP.Listen, DefaultListen)
	setDefault(&c.HTTP.ReadTimeout, DefaultReadTimeout)
	setDefault(&c.HTTP.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.HTTP.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.HTTP.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&c.HTTP.PageSizeMax, DefaultPageSizeMax)
	setDefault(&c.HTTP.RateLimit, DefaultRateLimit)
	setDefault(&c.HTTP.RateBurst, DefaultRateBurst)

	setDefault(&c.Log.Level, "info")
	setDefault(&c.Log.Format, "text")

	for i := range c.Sources {
		s := &c.Sources[i]
		switch s.Type {
		case "shopify":
			setDefault(&s.APIVersion, DefaultShopifyAPIVersion)
			setDefault(&s.Backfill, DefaultShopifyBackfill)
			setDefault(&s.Overlap, DefaultShopifyOverlap)
			if len(s.Streams) == 0 {
				s.Streams = []string{"customers", "orders"}
			}
		case "ga4":
			setDefault(&s.Lookback, DefaultGA4Lookback)
		case "meta":
			setDefault(&s.APIVersion, DefaultMetaAPIVersion)
		case "webhook":
			setDefault(&s.SignatureHeader, DefaultSignatureHeader)
		}
	}
	for i := range c.Destinations {
		d := &c.Destinations[i]
		if d.Type == "shopify" {
			setDefault(&d.TagPrefix, DefaultTagPrefix)
		}
	}

	if len(c.Identity.Match) == 0 {
		c.Identity.Match = []MatchRule{{Field: "email"}, {Field: "phone"}}
	}
	setDefault(&c.Identity.MaxProfilesPerKey, DefaultMaxProfilesPerKey)
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// resolvePaths makes relative file paths relative to dir, the config
// file's directory, so that crmhub behaves the same whatever directory it
// is started from.
func (c *Config) resolvePaths(dir string) {
	if c.Store.Driver == "sqlite" {
		c.Store.DSN = Secret(resolveSQLite(dir, c.Store.DSN.Reveal()))
	}
	if c.Bus.Driver == "sqlite" {
		c.Bus.DSN = Secret(resolveSQLite(dir, c.Bus.DSN.Reveal()))
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		s.Mapping = resolvePath(dir, s.Mapping)
		s.CredentialsFile = resolvePath(dir, s.CredentialsFile)
	}
}

func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// resolveSQLite resolves a plain sqlite file path; in-memory databases and
// file: URIs are left to the driver.
func resolveSQLite(dir, dsn string) string {
	if dsn == ":memory:" || strings.HasPrefix(dsn, "file:") {
		return dsn
	}
	return resolvePath(dir, dsn)
}
