package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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
// the outside world (answer a webhook 200, advance a cursor). In the same
// unit of work it counts the changes among the records by the channel that
// brought them first (see countChanges).
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
	// sup hashes records into suppression entries; dropped counts the
	// records of erased people that were dropped.
	sup     suppressorCache
	dropped atomic.Int64
	// metrics, when set, counts the records landed.
	metrics *Metrics
}

// Dropped returns how many records this Ingester dropped because they
// belong to a person who was erased (see package privacy); the store
// counts them too, per suppression entry.
func (in *Ingester) Dropped() int64 { return in.dropped.Load() }

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

// WithMetrics makes in count the records it lands in m
// (crmhub_source_records_total) and returns in. Call it before in is used.
func (in *Ingester) WithMetrics(m *Metrics) *Ingester {
	in.metrics = m
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
	_, err := in.ingest(ctx, envs, cp, nil)
	return err
}

// Receive is Ingest for a delivery pushed from outside: unless a delivery
// with one of d's keys was received before, it lands and publishes envs
// and claims d's keys, and reports fresh. A redelivery changes nothing and
// reports false with a nil error. When Receive returns nil the records are
// durable and the sender may be told so.
//
// Concurrent calls on the embedded store share their disk flushes (see
// store.Store.InTxShared), so that many small deliveries do not queue
// behind one flush each.
func (in *Ingester) Receive(ctx context.Context, d crmhub.Delivery, envs []crmhub.Envelope) (fresh bool, err error) {
	return in.ingest(ctx, envs, nil, &d)
}

// errSeen rolls back the unit of work of a redelivery.
var errSeen = errors.New("delivery received before")

func (in *Ingester) ingest(ctx context.Context, envs []crmhub.Envelope, cp *Checkpoint, d *crmhub.Delivery) (bool, error) {
	in.initRaw.Do(func() {
		if si, ok := in.pub.(message.SubscribeInitializer); ok {
			in.initErr = si.SubscribeInitialize(TopicRaw)
		}
	})
	if in.initErr != nil {
		return false, fmt.Errorf("ingest: prepare %s: %w", TopicRaw, in.initErr)
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
			return false, fmt.Errorf("ingest record %d: %w", i, err)
		}
		meta := map[string]string{"source_type": e.SourceType, "idempotency_key": e.IdempotencyKey}
		if d != nil {
			for k, v := range d.Meta {
				if _, ok := meta[k]; !ok && v != "" {
					meta[k] = v
				}
			}
		}
		recs[i] = store.RawRecord{Source: e.Source, Entity: string(e.Entity), ExternalID: e.ExternalID,
			Version: e.Version, Payload: e.Payload, ReceivedAt: e.ReceivedAt, Meta: meta}
		msgs[i] = ToMessage(*e)
	}
	keys, err := in.suppressionKeys(ctx, envs)
	if err != nil {
		return false, fmt.Errorf("ingest: %w", err)
	}
	inTx := in.store.InTx
	if d != nil {
		inTx = in.store.InTxShared
	}
	// marks saves what says the records are safe: the connector's cursor,
	// the delivery's keys.
	marks := func(tx *store.Tx) error {
		if d != nil && len(d.Keys) > 0 {
			fresh, err := tx.ClaimDelivery(ctx, d.Source, d.Keys)
			if err != nil {
				return err
			}
			if !fresh {
				return errSeen
			}
		}
		if cp != nil {
			return tx.SaveCheckpoint(ctx, cp.Source, cp.Stream, cp.Cursor)
		}
		return nil
	}
	if in.outbox != nil {
		var dropped int
		var landed []store.RawRecord
		var fresh []bool
		err := inTx(ctx, func(tx *store.Tx) error {
			// The claim comes first: a concurrent delivery with the same
			// key waits for it and then finds it.
			if err := marks(tx); err != nil {
				return err
			}
			keep, err := screen(ctx, tx, keys)
			if err != nil {
				return err
			}
			recs, msgs := pick(recs, keep), pick(msgs, keep)
			dropped = len(keys) - len(keep)
			if err := countChanges(ctx, tx, recs, d != nil, now); err != nil {
				return err
			}
			if fresh, err = tx.InsertRaw(ctx, recs); err != nil {
				return err
			}
			landed = recs
			if len(msgs) == 0 {
				return nil
			}
			if err := in.outbox.PublishTx(ctx, tx.SQL(), TopicRaw, msgs...); err != nil {
				return fmt.Errorf("publish %d records: %w", len(msgs), err)
			}
			return nil
		})
		if errors.Is(err, errSeen) {
			return false, nil
		}
		if err == nil {
			in.dropped.Add(int64(dropped))
			in.metrics.landed(landed, fresh)
		}
		return err == nil, wrapIngest(err)
	}
	// A bus of its own (NATS): publish after the landing commits, then
	// save the marks. A crash in between repeats the publish, never skips
	// it; two deliveries with one key at once may both publish, which the
	// idempotent stages absorb.
	if d != nil && len(d.Keys) > 0 {
		seen, err := in.store.DeliverySeen(ctx, d.Source, d.Keys)
		if err != nil || seen {
			return false, wrapIngest(err)
		}
	}
	var keep []int
	var fresh []bool
	if err := inTx(ctx, func(tx *store.Tx) error {
		var err error
		if keep, err = screen(ctx, tx, keys); err != nil {
			return err
		}
		if err := countChanges(ctx, tx, pick(recs, keep), d != nil, now); err != nil {
			return err
		}
		fresh, err = tx.InsertRaw(ctx, pick(recs, keep))
		return err
	}); err != nil {
		return false, wrapIngest(err)
	}
	in.dropped.Add(int64(len(keys) - len(keep)))
	in.metrics.landed(pick(recs, keep), fresh)
	if msgs = pick(msgs, keep); len(msgs) > 0 {
		if err := in.pub.Publish(TopicRaw, msgs...); err != nil {
			return false, fmt.Errorf("ingest: publish %d records: %w", len(msgs), err)
		}
	}
	if cp == nil && d == nil {
		return true, nil
	}
	err = inTx(ctx, marks)
	if errors.Is(err, errSeen) {
		return false, nil
	}
	return err == nil, wrapIngest(err)
}

func wrapIngest(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("ingest: %w", err)
}

// suppressionKeys returns the suppression entry of each envelope's record;
// "" for a privacy request, which is never dropped: a data request about
// an erased person is answered, and an erasure repeated.
func (in *Ingester) suppressionKeys(ctx context.Context, envs []crmhub.Envelope) ([]string, error) {
	sup, err := in.sup.get(ctx, in.store)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(envs))
	for i, e := range envs {
		if e.Entity != crmhub.EntityPrivacy {
			keys[i] = sup.Record(e.Source, string(e.Entity), e.ExternalID)
		}
	}
	return keys, nil
}

// screen returns the positions of the records to land: those whose
// suppression entry is not on the list. It counts the others against
// their entries in tx. A person's records from another source, which only
// their email or phone tells, are dropped by the persist stage.
func screen(ctx context.Context, tx *store.Tx, keys []string) ([]int, error) {
	var look []string
	for _, k := range keys {
		if k != "" {
			look = append(look, k)
		}
	}
	hit, err := tx.Suppressed(ctx, look)
	if err != nil {
		return nil, err
	}
	keep := make([]int, 0, len(keys))
	var hits []string
	for i, k := range keys {
		if hit[k] {
			hits = append(hits, k)
			continue
		}
		keep = append(keep, i)
	}
	if len(hits) > 0 {
		if err := tx.CountDropped(ctx, hits); err != nil {
			return nil, err
		}
	}
	return keep, nil
}

// pick returns the elements of xs at the positions keep, or xs itself
// when keep holds them all.
func pick[T any](xs []T, keep []int) []T {
	if len(keep) == len(xs) {
		return xs
	}
	out := make([]T, len(keep))
	for j, i := range keep {
		out[j] = xs[i]
	}
	return out
}
