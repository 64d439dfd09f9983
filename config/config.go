// Package config loads crmhub's single YAML configuration file into a typed
// Config.
//
// Loading is strict and talkative: unknown keys, type mistakes, missing
// environment variables and semantic problems are all collected and returned
// together as Problems, each pointing at a file:line and saying what to do.
// Credentials are only accepted as ${ENV_VAR} references and are held in
// Secret values that redact themselves wherever they are printed, logged or
// marshalled.
//
// References are expanded in every value: ${NAME} is replaced by the
// variable, $${ stands for a literal ${, and any other $ is kept. Inside
// flow collections ([ ] and { }) a reference must be quoted. Top-level keys
// starting with x- are ignored, so they can hold YAML anchors for reuse.
package config

import "os"

// EnvConfigPath is the environment variable that names the config file when
// no -c/--config flag is given.
const EnvConfigPath = "CRMHUB_CONFIG"

// DefaultPath returns the config file to use when none is given on the
// command line: $CRMHUB_CONFIG when set, otherwise crmhub.yaml in the working
// directory.
func DefaultPath() string {
	if p := os.Getenv(EnvConfigPath); p != "" {
		return p
	}
	return "crmhub.yaml"
}

// Config is the whole crmhub configuration, as read from one YAML file.
//
// A Config returned by Load or Parse has defaults applied, relative paths
// resolved against the config file's directory, and has passed Validate.
type Config struct {
	Store        StoreConfig         `yaml:"store"`
	Bus          BusConfig           `yaml:"bus"`
	HTTP         HTTPConfig          `yaml:"http"`
	Log          LogConfig           `yaml:"log"`
	Sources      []SourceConfig      `yaml:"sources,omitempty"`
	Destinations []DestinationConfig `yaml:"destinations,omitempty"`
	Identity     IdentityConfig      `yaml:"identity"`

	// AllowEphemeralBus lets Validate accept bus.driver gochannel, which keeps
	// messages in memory only. It is meant for tests and cannot be set from
	// YAML; see WithEphemeralBus to set it while parsing.
	AllowEphemeralBus bool `yaml:"-"`

	// src remembers where each key was written, so that semantic problems
	// found after decoding still point at a file:line. It is nil for a Config
	// built in Go code. A pointer keeps fmt's %v output short.
	src *origin
}

// Source returns the source named name, or nil when there is none.
func (c *Config) Source(name string) *SourceConfig {
	for i := range c.Sources {
		if c.Sources[i].Name == name {
			return &c.Sources[i]
		}
	}
	return nil
}

// Destination returns the destination named name, or nil when there is none.
func (c *Config) Destination(name string) *DestinationConfig {
	for i := range c.Destinations {
		if c.Destinations[i].Name == name {
			return &c.Destinations[i]
		}
	}
	return nil
}

// File returns the path of the file the Config was parsed from, or "" for a
// Config built in Go code.
func (c *Config) File() string {
	if c.src == nil {
		return ""
	}
	return c.src.file
}

// StoreConfig selects the unified record store.
type StoreConfig struct {
	// Driver is "sqlite" (default) or "postgres".
	Driver string `yaml:"driver"`
	// DSN is a file path for sqlite (default crmhub.db next to the config
	// file) or a postgres:// URL or key=value DSN for postgres. It is a Secret
	// because PostgreSQL DSNs may carry a password; a literal sqlite path is
	// fine, a literal password is not.
	DSN Secret `yaml:"dsn" config:"literal"`
	// MaxOpenConns caps the connection pool; 0 leaves the driver's default.
	MaxOpenConns int `yaml:"max_open_conns,omitempty"`
	// Synchronous is SQLite's PRAGMA synchronous: "full" (default) or
	// "normal". Only valid with the sqlite driver.
	Synchronous string `yaml:"synchronous,omitempty"`
}

// BusConfig selects the message bus between pipeline stages.
type BusConfig struct {
	// Driver is "sqlite" (default), "postgres", "nats" or "gochannel"
	// (tests only: it loses messages on a crash).
	Driver string `yaml:"driver"`
	// DSN is the bus database for the sqlite and postgres drivers. It
	// defaults to the store's DSN when store and bus use the same driver.
	DSN Secret `yaml:"dsn,omitempty" config:"literal"`
	// NATS configures the nats driver.
	NATS *NATSConfig `yaml:"nats,omitempty"`
}

// NATSConfig configures the NATS JetStream bus.
type NATSConfig struct {
	// URL is one server URL or a comma-separated list (nats://host:4222).
	// It is a Secret because it may carry user:password.
	URL Secret `yaml:"url" config:"literal"`
	// StreamPrefix prefixes every JetStream stream crmhub creates, so several
	// installations can share a cluster. Default "crmhub".
	StreamPrefix string `yaml:"stream_prefix,omitempty"`
}

// HTTPConfig configures the API, webhook and dashboard server.
type HTTPConfig struct {
	// Listen is the host:port to listen on; default ":8080".
	Listen string `yaml:"listen"`
	// PublicURL is how the outside world reaches this server
	// (https://crm.example.com); used to show webhook URLs. Optional.
	PublicURL string `yaml:"public_url,omitempty"`
	// ReadTimeout bounds reading a request; default 10s.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response; default 30s.
	WriteTimeout Duration `yaml:"write_timeout"`
	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request; default 2m.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxBodyBytes caps request bodies (webhooks included); default 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// PageSizeMax caps the limit parameter of REST API lists: a larger
	// limit is clamped to it; default 1000.
	PageSizeMax int `yaml:"page_size_max"`
	// RateLimit is how many REST API requests per second one token may
	// make on average, and RateBurst how many at once; defaults 20 and 40.
	RateLimit float64 `yaml:"rate_limit"`
	RateBurst int     `yaml:"rate_burst"`
}

// LogConfig configures the slog logger.
type LogConfig struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is text (default) or json.
	Format string `yaml:"format"`
}

// SourceConfig is one configured source. It holds the union of the keys of
// every source type; Validate rejects keys that do not belong to Type.
type SourceConfig struct {
	// Name identifies the source in webhook URLs, the CLI and the API.
	Name string `yaml:"name"`
	// Type is one of SourceTypes.
	Type string `yaml:"type"`
	// Mapping is a mapping file, resolved against the config file's
	// directory. Required for webhook and file sources; overrides the
	// built-in mapping for the others.
	Mapping string `yaml:"mapping,omitempty"`
	// Schedule is how often to pull; zero means only on demand.
	Schedule Duration `yaml:"schedule,omitempty"`
	// BaseURL replaces the vendor's scheme and host (proxies, tests).
	BaseURL string `yaml:"base_url,omitempty"`
	// DefaultRegion is the ISO 3166 alpha-2 country used for phone numbers
	// written without a +country code.
	DefaultRegion string `yaml:"default_region,omitempty"`
	// Tenant separates data: profiles in different tenants never merge.
	Tenant string `yaml:"tenant,omitempty"`

	// Shop is the shopify shop domain, ending in .myshopify.com.
	Shop string `yaml:"shop,omitempty"`
	// AccessToken authenticates shopify (custom app token) and meta.
	AccessToken Secret `yaml:"access_token,omitempty"`
	// ClientID and ClientSecret authenticate shopify by client credentials,
	// as an alternative to AccessToken, or are the public app's with Auth
	// install.
	ClientID     string `yaml:"client_id,omitempty"`
	ClientSecret Secret `yaml:"client_secret,omitempty"`
	// Auth says how a shopify source authenticates: access_token,
	// client_credentials, or install (the shop installs a public app
	// through crmhub's OAuth flow; its token is kept in the store). Empty
	// tells access_token from client_id and client_secret.
	Auth string `yaml:"auth,omitempty"`
	// Scopes are the access scopes an install asks for (auth: install);
	// default read_customers and read_orders.
	Scopes []string `yaml:"scopes,omitempty"`
	// WebhookSecret verifies shopify webhook signatures.
	WebhookSecret Secret `yaml:"webhook_secret,omitempty"`
	// WebhookSecretsPrevious are still accepted while a secret is rotated.
	WebhookSecretsPrevious []Secret `yaml:"webhook_secrets_previous,omitempty"`
	// APIVersion pins the vendor API version (shopify 2026-01, meta v21.0).
	APIVersion string `yaml:"api_version,omitempty"`
	// Streams selects what a shopify source pulls: customers, orders.
	Streams []string `yaml:"streams,omitempty"`
	// Backfill is how far back the first shopify sync reaches.
	Backfill Duration `yaml:"backfill,omitempty"`
	// Overlap is how far before its checkpoint each shopify pull starts
	// again: Shopify's search can lag behind a record's updated_at.
	Overlap Duration `yaml:"overlap,omitempty"`

	// PropertyID is the numeric GA4 property.
	PropertyID string `yaml:"property_id,omitempty"`
	// CredentialsFile is a Google service-account JSON key file.
	CredentialsFile string `yaml:"credentials_file,omitempty"`
	// Dimensions and Metrics select GA4 report columns.
	Dimensions []string `yaml:"dimensions,omitempty"`
	Metrics    []string `yaml:"metrics,omitempty"`
	// Lookback is how far back each GA4 pull re-reads, because GA4 keeps
	// revising recent days.
	Lookback Duration `yaml:"lookback,omitempty"`

	// AppSecret verifies meta webhook signatures.
	AppSecret Secret `yaml:"app_secret,omitempty"`
	// VerifyToken answers meta's webhook subscription challenge.
	VerifyToken Secret `yaml:"verify_token,omitempty"`
	// PageID limits meta leads to one page.
	PageID string `yaml:"page_id,omitempty"`

	// Secret verifies signatures of a generic webhook source.
	Secret Secret `yaml:"secret,omitempty"`
	// SignatureHeader carries the webhook signature.
	SignatureHeader string `yaml:"signature_header,omitempty"`

	// Format is csv or ndjson for file sources; empty means guess from the
	// imported file's extension.
	Format string `yaml:"format,omitempty"`

	// Seed makes the sample source reproducible.
	Seed int64 `yaml:"seed,omitempty"`
	// Count is how many customers the sample source invents.
	Count int `yaml:"count,omitempty"`
}

// DestinationConfig is one configured destination. Like SourceConfig it
// holds the union of the keys of every destination type.
type DestinationConfig struct {
	// Name identifies the destination in the CLI and the API.
	Name string `yaml:"name"`
	// Type is one of DestinationTypes.
	Type string `yaml:"type"`
	// BaseURL replaces the vendor's scheme and host (proxies, tests).
	BaseURL string `yaml:"base_url,omitempty"`

	// Source names the shopify source whose shop a shopify destination
	// writes to (and whose credentials it uses).
	Source string `yaml:"source,omitempty"`
	// Push selects what a shopify destination writes: tags, metafields,
	// discounts.
	Push []string `yaml:"push,omitempty"`
	// TagPrefix marks the tags crmhub owns, so it never touches others.
	TagPrefix string `yaml:"tag_prefix,omitempty"`

	// APIKey authenticates klaviyo.
	APIKey Secret `yaml:"api_key,omitempty"`
	// ListID is the klaviyo list profiles are subscribed to.
	ListID string `yaml:"list_id,omitempty"`

	// AccessToken authenticates hubspot and meta_audience.
	AccessToken Secret `yaml:"access_token,omitempty"`
	// AdAccountID and AudienceID address a meta custom audience.
	AdAccountID string `yaml:"ad_account_id,omitempty"`
	AudienceID  string `yaml:"audience_id,omitempty"`

	// URL receives a webhook destination's signed POSTs.
	URL string `yaml:"url,omitempty"`
	// Secret signs webhook destination requests.
	Secret Secret `yaml:"secret,omitempty"`
}

// IdentityConfig holds the identity-resolution rules.
type IdentityConfig struct {
	// Match lists the rules that make two records the same person, in
	// order. Default: email, phone.
	Match []MatchRule `yaml:"match"`
	// BlockedValues are identifiers that never link records, such as
	// placeholder emails and phone numbers typed at a till.
	BlockedValues []string `yaml:"blocked_values,omitempty"`
	// MaxProfilesPerKey stops a key shared by more profiles than this from
	// merging anything, because such a key is a placeholder, not a person.
	// Default 5.
	MaxProfilesPerKey int `yaml:"max_profiles_per_key"`
	// Survivorship chooses, per profile field, which record's value the
	// profile shows.
	Survivorship SurvivorshipConfig `yaml:"survivorship,omitempty"`
}

// SurvivorshipConfig chooses which record supplies each profile field:
// most_recent (the record its source changed last), source_priority (the
// first source in SourcePriority that has a value) or most_complete (the
// longest value; for addresses the one with the most parts).
type SurvivorshipConfig struct {
	// Default is the policy of fields not listed in Fields. Default
	// most_recent.
	Default string `yaml:"default,omitempty"`
	// SourcePriority lists source names, most trusted first.
	SourcePriority []string `yaml:"source_priority,omitempty"`
	// Fields maps email, phone, name, birthday, address, locale or
	// attributes.NAME to a policy.
	Fields map[string]string `yaml:"fields,omitempty"`
}
