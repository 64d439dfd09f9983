package config

import (
	"maps"
	"slices"
)

// typeKeys is the key table of a tagged union (sources, destinations): keys
// every member accepts plus the keys of each type.
type typeKeys struct {
	what   string // "source", for messages
	common []string
	byType map[string][]string
}

// sourceKeys lists which keys each source type accepts. A test checks that
// every SourceConfig field is listed here, so a new field cannot be
// forgotten.
var sourceKeys = typeKeys{
	what:   "source",
	common: []string{"name", "type", "mapping", "schedule", "base_url", "default_region", "tenant"},
	byType: map[string][]string{
		"shopify": {"shop", "access_token", "client_id", "client_secret", "auth", "scopes", "webhook_secret", "webhook_secrets_previous", "api_version", "streams", "backfill", "overlap"},
		"ga4":     {"property_id", "credentials_file", "dimensions", "metrics", "lookback"},
		"meta":    {"app_secret", "verify_token", "access_token", "page_id", "api_version"},
		"webhook": {"secret", "signature_header"},
		"file":    {"format"},
		"sample":  {"seed", "count"},
	},
}

// destinationKeys lists which keys each destination type accepts.
var destinationKeys = typeKeys{
	what:   "destination",
	common: []string{"name", "type", "base_url"},
	byType: map[string][]string{
		"shopify":       {"source", "push", "tag_prefix"},
		"klaviyo":       {"api_key", "list_id"},
		"hubspot":       {"access_token"},
		"meta_audience": {"access_token", "ad_account_id", "audience_id"},
		"webhook":       {"url", "secret"},
	},
}

// types returns the known type names, sorted.
func (tk typeKeys) types() []string {
	return slices.Sorted(maps.Keys(tk.byType))
}

// keys returns the sorted keys a member of type typ accepts.
func (tk typeKeys) keys(typ string) ([]string, bool) {
	own, ok := tk.byType[typ]
	if !ok {
		return nil, false
	}
	return slices.Sorted(slices.Values(append(slices.Clone(tk.common), own...))), true
}

// all returns every key any member accepts, sorted.
func (tk typeKeys) all() []string {
	keys := slices.Clone(tk.common)
	for _, own := range tk.byType {
		keys = append(keys, own...)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// SourceTypes returns the source types the configuration accepts, sorted.
func SourceTypes() []string { return sourceKeys.types() }

// DestinationTypes returns the destination types the configuration
// accepts, sorted.
func DestinationTypes() []string { return destinationKeys.types() }
