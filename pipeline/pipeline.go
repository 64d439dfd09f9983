// Package pipeline is crmhub's data flow: a Watermill router whose stages
// (map, resolve and persist, enrich, push) are handlers between durable bus
// topics, the middleware every stage runs in, the ingest entry point every
// source calls, and dead-letter replay.
//
// The bus delivers at least once, so every stage is idempotent: it records
// the message's idempotency key with store.Tx.MarkProcessed in the same unit
// of work as its effect.
package pipeline

// Topics between the stages. See the data flow in architecture.md.
const (
	// TopicRaw carries every accepted raw record, as landed.
	TopicRaw = "records.raw"
	// TopicCanonical carries records mapped onto the canonical model.
	TopicCanonical = "records.canonical"
	// TopicProfilesChanged carries the ids of profiles that changed.
	TopicProfilesChanged = "profiles.changed"
	// TopicProfilesEnriched carries enriched profiles for destinations.
	TopicProfilesEnriched = "profiles.enriched"
)

// Stage (handler) names. They key idempotency marks and dead letters, so
// they must not change once data exists.
const (
	HandlerMap     = "map"
	HandlerPersist = "persist"
	HandlerEnrich  = "enrich"
	HandlerPush    = "push"
)
