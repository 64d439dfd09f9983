package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Connectors reports on the configured sources and starts their syncs.
// Implementations are safe for concurrent use.
type Connectors interface {
	// Connectors returns the status of every configured source, in the
	// order of the config.
	Connectors(ctx context.Context) ([]ConnectorStatus, error)
	// Sync starts a sync of source name in the background and returns
	// once it started. An unknown name is an error wrapping
	// crmhub.ErrNotFound, a source already syncing one wrapping
	// crmhub.ErrConflict, and one that cannot be pulled (a webhook-only
	// source) one wrapping crmhub.ErrInvalid.
	Sync(ctx context.Context, name string) error
}

// ConnectorStatus is how a source is doing, as GET /api/v1/connectors
// shows it. Counts are since the process started.
type ConnectorStatus struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Schedule is how often the source is pulled ("15m"); empty for one
	// that is only pulled on demand or only receives webhooks.
	Schedule string `json:"schedule"`
	// Running is set while a sync runs.
	Running bool `json:"running"`
	// LastStarted and LastFinished bound the latest sync; nil before the
	// first.
	LastStarted  *time.Time `json:"last_started_at"`
	LastFinished *time.Time `json:"last_finished_at"`
	// LastError is why the latest sync failed; empty when it did not.
	LastError string `json:"last_error"`
	// Errors counts failed syncs.
	Errors int64 `json:"errors"`
	// Records counts the records syncs landed.
	Records int64 `json:"records"`
	// Streams are the source's streams with their cursors.
	Streams []StreamStatus `json:"streams"`
	// DeadLetters counts the source's records in the dead letters.
	DeadLetters int64 `json:"dead_letters"`
}

// StreamStatus is where the sync of one stream of a source stands.
type StreamStatus struct {
	Stream string `json:"stream"`
	// Cursor is where the next sync of the stream resumes, as the
	// connector wrote it.
	Cursor string `json:"cursor"`
	// UpdatedAt is when the cursor last moved; nil when it never did.
	UpdatedAt *time.Time `json:"updated_at"`
	// Lag is how far behind the source the cursor is; it is shown as
	// lag_seconds.
	Lag time.Duration `json:"-"`
}

// MarshalJSON writes the stream with its lag in seconds, which every
// client reads alike, rather than Go's duration in nanoseconds.
func (s StreamStatus) MarshalJSON() ([]byte, error) {
	type plain StreamStatus
	return json.Marshal(struct {
		plain
		LagSeconds float64 `json:"lag_seconds"`
	}{plain(s), s.Lag.Seconds()})
}

// connectorList is the body of GET /api/v1/connectors.
type connectorList struct {
	Data []ConnectorStatus `json:"data"`
}

// syncStarted is the body of an accepted sync.
type syncStarted struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

func (a *REST) listConnectors(w http.ResponseWriter, r *http.Request) error {
	if a.connectors == nil {
		return unavailable("connector status")
	}
	cs, err := a.connectors.Connectors(r.Context())
	if err != nil {
		return err
	}
	for i := range cs {
		if cs[i].Streams == nil {
			cs[i].Streams = []StreamStatus{}
		}
	}
	if cs == nil {
		cs = []ConnectorStatus{}
	}
	writeJSON(w, http.StatusOK, connectorList{Data: cs})
	return nil
}

func (a *REST) syncConnector(w http.ResponseWriter, r *http.Request) error {
	if a.connectors == nil {
		return unavailable("starting a sync")
	}
	name := r.PathValue("name")
	if err := a.connectors.Sync(r.Context(), name); err != nil {
		return err
	}
	a.log.InfoContext(r.Context(), "sync started", "source", name, "token_id", tokenID(r.Context()))
	writeJSON(w, http.StatusAccepted, syncStarted{Name: name, Status: "started"})
	return nil
}
