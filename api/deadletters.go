package api

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/crmhub/crmhub/store"
)

// deadLetter is a dead letter as the API shows it. Lists leave out the
// metadata and the payload, which only GET /api/v1/dead-letters/{id}
// shows.
type deadLetter struct {
	ID         int64             `json:"id"`
	Stage      string            `json:"stage"`
	Topic      string            `json:"topic"`
	Source     string            `json:"source"`
	Entity     string            `json:"entity"`
	ExternalID string            `json:"external_id"`
	Reason     string            `json:"reason"`
	Attempts   int               `json:"attempts"`
	FirstSeen  time.Time         `json:"first_seen"`
	LastSeen   time.Time         `json:"last_seen"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	// Payload is the message as it failed: its text when it is UTF-8
	// (PayloadEncoding "utf-8"), else base64 (PayloadEncoding "base64").
	Payload         *string `json:"payload,omitempty"`
	PayloadEncoding string  `json:"payload_encoding,omitempty"`
}

func summary(dl store.DeadLetter) deadLetter {
	return deadLetter{ID: dl.ID, Stage: dl.Handler, Topic: dl.Topic, Source: dl.Source, Entity: dl.Entity,
		ExternalID: dl.ExternalID, Reason: dl.Reason, Attempts: dl.Attempts, FirstSeen: dl.FirstSeen, LastSeen: dl.LastSeen}
}

func detail(dl store.DeadLetter) deadLetter {
	out := summary(dl)
	out.Metadata = dl.Metadata
	payload, enc := string(dl.Payload), "utf-8"
	if !utf8.Valid(dl.Payload) {
		payload, enc = base64.StdEncoding.EncodeToString(dl.Payload), "base64"
	}
	out.Payload, out.PayloadEncoding = &payload, enc
	return out
}

func (a *REST) listDeadLetters(w http.ResponseWriter, r *http.Request) error {
	limit, err := pageLimit(r, a.maxPage)
	if err != nil {
		return err
	}
	key, err := decodeCursor(r)
	if err != nil {
		return err
	}
	var after int64
	if key != "" {
		if after, err = strconv.ParseInt(key, 10, 64); err != nil {
			return invalidParam("cursor", "not a cursor of this route; pass next_cursor as it came")
		}
	}
	dls, err := a.store.DeadLetters(r.Context(), after, limit+1)
	if err != nil {
		return err
	}
	out := make([]deadLetter, len(dls))
	for i, dl := range dls {
		out[i] = summary(dl)
	}
	writeJSON(w, http.StatusOK, newPage(out, limit, func(dl deadLetter) string { return strconv.FormatInt(dl.ID, 10) }))
	return nil
}

// deadLetterID reads the {id} of a dead-letter route.
func deadLetterID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, invalidParam("id", "a dead-letter id is a positive whole number")
	}
	return id, nil
}

func (a *REST) getDeadLetter(w http.ResponseWriter, r *http.Request) error {
	id, err := deadLetterID(r)
	if err != nil {
		return err
	}
	dl, err := a.store.DeadLetter(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, detail(dl))
	return nil
}

// replayed is the body of a successful replay.
type replayed struct {
	ID    int64  `json:"id"`
	Topic string `json:"topic"`
}

func (a *REST) replayDeadLetter(w http.ResponseWriter, r *http.Request) error {
	id, err := deadLetterID(r)
	if err != nil {
		return err
	}
	dl, err := a.store.DeadLetter(r.Context(), id)
	if err != nil {
		return err
	}
	if dl.Topic == "" {
		return errorf(http.StatusConflict, CodeConflict, "dead letter %d has no topic to go back to", id)
	}
	if err := a.replay(r.Context(), id); err != nil {
		return err
	}
	a.log.InfoContext(r.Context(), "dead letter replayed", "dead_letter", id, "topic", dl.Topic,
		"token_id", tokenID(r.Context()))
	writeJSON(w, http.StatusOK, replayed{ID: id, Topic: dl.Topic})
	return nil
}
