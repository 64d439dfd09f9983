// Package privacy carries out privacy requests. A data request exports
// everything the store holds on a person into the request's row, where an
// operator fetches it (crmhub privacy export). An erasure deletes the
// person from every table, keeps only keyed hashes that make records of
// them arriving later be dropped, and leaves an erasure task for every
// destination. A source's erasure (Shopify's shop/redact) deletes
// everything that source brought.
//
// Requests come from a source's privacy webhooks through the pipeline, or
// from an operator through the CLI; both go through Service.Handle.
package privacy

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/store"
)

// MessageRef names the bus messages of one record by their envelope's
// source, entity and external id; an empty Entity or ExternalID matches
// any.
type MessageRef struct {
	Source, Entity, ExternalID string
}

// MessageEraser deletes bus messages in a store transaction. A bus that
// keeps its messages in the store's database keeps each record's payload
// there for a while after it was handled, so an erasure deletes those too.
// EraseMessagesTx returns how many messages it deleted.
type MessageEraser interface {
	EraseMessagesTx(ctx context.Context, tx *sql.Tx, refs []MessageRef) (int64, error)
}

// Options configure a Service.
type Options struct {
	// Regions gives each source's default phone region, for numbers a
	// request gives without a country code.
	Regions map[string]string
	// Destinations names the configured destinations. Every profile an
	// erasure deletes gets an erasure task for each of them: crmhub does
	// not record yet which destination received which profile, so every
	// one is asked, and one that never had the person has nothing to do.
	Destinations []string
	// Messages, when set, deletes the bus messages of erased records.
	Messages MessageEraser
	// Survivorship derives a profile again from the records that remain
	// after a source's erasure.
	Survivorship identity.Survivorship
	// Logger receives ids and counts, never personal data.
	Logger *slog.Logger
}

// Service carries out privacy requests on a store. It is safe for
// concurrent use.
type Service struct {
	store *store.Store
	opts  Options
	log   *slog.Logger
	now   func() time.Time
}

// New returns a Service on s. It does no I/O.
func New(s *store.Store, opts Options) *Service {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: s, opts: opts, log: log.With("component", "privacy"), now: time.Now}
}

// Summary says what a request did, without personal data. It is stored
// with the request.
type Summary struct {
	// Profiles are the profiles the request was about (erased ones
	// included, with profiles merged into them).
	Profiles []string `json:"profiles"`
	// Rows counts the rows erased, by table.
	Rows store.Erased `json:"rows,omitempty"`
	// Messages counts the bus messages erased.
	Messages int64 `json:"bus_messages,omitempty"`
	// Suppressions counts the suppression entries the erasure added or
	// found.
	Suppressions int `json:"suppression_entries,omitempty"`
	// ErasureTasks counts the tasks left for destinations.
	ErasureTasks int `json:"erasure_tasks,omitempty"`
	// Rederived lists profiles a source's erasure derived again from the
	// records other sources hold.
	Rederived []string `json:"rederived,omitempty"`
	// Exported counts what a data request's export holds, by section.
	Exported map[string]int `json:"exported,omitempty"`
}

// Handle carries out req once per origin: a request whose origin was
// handled before returns the stored outcome and changes nothing. actor
// names who asked (an operator, or "" for a source's webhook). On failure
// the request is stored as failed with the reason and the error returned;
// handling it again retries it. A malformed request is an error wrapping
// crmhub.ErrInvalid.
func (s *Service) Handle(ctx context.Context, origin, actor string, req crmhub.PrivacyRequest) (store.PrivacyRequest, error) {
	if err := req.Validate(); err != nil {
		return store.PrivacyRequest{}, err
	}
	var rec store.PrivacyRequest
	err := s.store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		rec, _, err = tx.AddPrivacyRequest(ctx, store.PrivacyRequest{Origin: origin, Kind: string(req.Kind),
			Source: req.Source, ExternalID: req.RequestID, Actor: actor, CreatedAt: s.now()})
		return err
	})
	if err != nil {
		return rec, err
	}
	if rec.Status == store.PrivacyDone {
		return rec, nil
	}
	log := s.log.With("request", rec.ID, "kind", rec.Kind, "source", rec.Source)
	start := s.now()
	var sum Summary
	switch req.Kind {
	case crmhub.PrivacyDataRequest:
		sum, err = s.dataRequest(ctx, rec, req)
	case crmhub.PrivacyRedact:
		sum, err = s.redact(ctx, rec, req)
	case crmhub.PrivacyShopRedact:
		sum, err = s.eraseSource(ctx, rec, req)
	}
	if err != nil {
		log.Error("privacy request failed", "err", err)
		if ferr := s.fail(ctx, rec.ID, err); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return rec, fmt.Errorf("privacy request %s: %w", rec.ID, err)
	}
	log.Info("privacy request done", "profiles", len(sum.Profiles), "rows", total(sum.Rows),
		"bus_messages", sum.Messages, "erasure_tasks", sum.ErasureTasks, "took", s.now().Sub(start))
	return s.store.PrivacyRequest(ctx, rec.ID)
}

// fail stores the reason a request failed. The reason is an error of
// crmhub's, which names ids, never personal data.
func (s *Service) fail(ctx context.Context, id string, cause error) error {
	return s.store.InTx(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		return tx.FinishPrivacyRequest(ctx, id, store.PrivacyFailed, nil, nil, cause.Error())
	})
}

// finish stores a request's outcome in the unit of work that did it.
func finish(ctx context.Context, tx *store.Tx, id string, sum Summary, export []byte) error {
	b, err := json.Marshal(sum)
	if err != nil {
		return fmt.Errorf("encode summary of privacy request %s: %w", id, err)
	}
	return tx.FinishPrivacyRequest(ctx, id, store.PrivacyDone, b, export, "")
}

func total(rows store.Erased) int64 {
	var n int64
	for _, v := range rows {
		n += v
	}
	return n
}

// ReadSummary decodes the summary stored with a request.
func ReadSummary(req store.PrivacyRequest) (Summary, error) {
	var sum Summary
	if len(req.Summary) == 0 {
		return sum, nil
	}
	err := json.Unmarshal(req.Summary, &sum)
	return sum, wrapf(err, "decode summary of privacy request %s", req.ID)
}

func wrapf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
