package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/store"
)

// Ingester is the one way into the pipeline. Every source (webhook
// receiver, pull, file import) hands it the records it accepted; when
// Ingest returns nil they are landed in the raw table and published on
// TopicRaw durably, and only then may the source acknowledge anything to
// the outside world (answer a webhook 200, advance a cursor).
type Ingester struct {
	store *store.Store
	pub   message.Publisher
	// outbox is set when the bus keeps its messages in the store's
	// database: then landing and publishing commit in one transaction.
	outbox bus.TxPublisher
	now    func() time.Time
	// initRaw prepares the bus for TopicRaw once, outside any transaction:
	// a bus that creates a topic's tables on first use would otherwise need
	// a second connection in the middle of the landing transaction.
	initRaw sync.Once
	initErr error
}

// NewIngester returns an Ingester landing records in s and publishing them
// on pub. sharedDB says that pub keeps its messages in s's database (the
// sqlite and postgres buses opened on s.DB()); it then publishes in the
// same transaction as the landing, if pub supports it.
func NewIngester(s *store.Store, pub message.Publisher, sharedDB bool) *Ingester {
	in := &Ingester{store: s, pub: pub, now: time.Now}
	if tp, ok := pub.(bus.TxPublisher); ok && sharedDB {
		in.outbox = tp
	}
	return in
}

// Checkpoint is a connector cursor to save together with the records it
// covers.
type Checkpoint struct {
	Source, Stream, Cursor string
}

// Ingest lands envs and publishes them. A record landed before (same
// source, entity, external id and content) is published again all the
// same: the caller may be retrying after a crash that came between the
// landing and the publishing, and the stages are idempotent. With cp, the
// cursor is saved only once the records are safe, never before.
//
// Envelopes without an idempotency key get the default one; a zero
// ReceivedAt is set to now.
func (in *Ingester) Ingest(ctx context.Context, envs []crmhub.Envelope, cp *Checkpoint) error {
	in.initRaw.Do(func() {
		if si, ok := in.pub.(message.SubscribeInitializer); ok {
			in.initErr = si.SubscribeInitialize(TopicRaw)
		}
	})
	if in.initErr != nil {
		return fmt.Errorf("ingest: prepare %s: %w", TopicRaw, in.initErr)
	}
	recs := make([]store.RawRecord, len(envs))
	msgs := make([]*message.Message, len(envs))
	now := in.now().UTC()
	for i := range envs {
		e := &envs[i]
		if e.ReceivedAt.IsZero() {
			e.ReceivedAt = now
		}
		if e.IdempotencyKey == "" {
			e.IdempotencyKey = e.DefaultIdempotencyKey()
		}
		if err := e.Validate(); err != nil {
			return fmt.Errorf("ingest record %d: %w", i, err)
		}
		recs[i] = store.RawRecord{Source: e.Source, Entity: string(e.Entity), ExternalID: e.ExternalID,
			Version: e.Version, Payload: e.Payload, ReceivedAt: e.ReceivedAt,
			Meta: map[string]string{"source_type": e.SourceType, "idempotency_key": e.IdempotencyKey}}
		msgs[i] = ToMessage(*e)
	}
	err := in.store.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.InsertRaw(ctx, recs); err != nil {
			return err
		}
		if in.outbox == nil {
			return nil
		}
		if err := in.outbox.PublishTx(ctx, tx.SQL(), TopicRaw, msgs...); err != nil {
			return fmt.Errorf("publish %d records: %w", len(msgs), err)
		}
		if cp != nil {
			return tx.SaveCheckpoint(ctx, cp.Source, cp.Stream, cp.Cursor)
		}
		return nil
	})
	if err != nil || in.outbox != nil {
		return wrapIngest(err)
	}
	// A bus of its own (NATS): publish after the landing commits, then move
	// the cursor. A crash in between repeats the publish, never skips it.
	if err := in.pub.Publish(TopicRaw, msgs...); err != nil {
		return fmt.Errorf("ingest: publish %d records: %w", len(msgs), err)
	}
	if cp != nil {
		return wrapIngest(in.store.InTx(ctx, func(tx *store.Tx) error {
			return tx.SaveCheckpoint(ctx, cp.Source, cp.Stream, cp.Cursor)
		}))
	}
	return nil
}

func wrapIngest(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("ingest: %w", err)
}
