package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

type attemptsKey struct{}

// countAttempts runs innermost and counts how often the handler itself
// ran for one delivery, retries included.
func countAttempts(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if n, ok := msg.Context().Value(attemptsKey{}).(*atomic.Int32); ok {
			n.Add(1)
		}
		return h(msg)
	}
}

// deadLetters is the poison queue: when the stages inside it give up on a
// message (a permanent error, retries exhausted, a panic), it stores the
// message in the dead-letter table with the reason, the handler and the
// number of attempts, and acks it so that the messages behind it keep
// flowing. A message interrupted by shutdown is nacked instead, and so is
// one whose dead letter cannot be stored: nothing is ever dropped.
type deadLetters struct {
	store   *store.Store
	log     *slog.Logger
	metrics *Metrics
}

func (d *deadLetters) middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) (out []*message.Message, err error) {
		outer := msg.Context()
		n := new(atomic.Int32)
		msg.SetContext(context.WithValue(outer, attemptsKey{}, n))
		out, err = safely(h, msg)
		if err == nil {
			return out, nil
		}
		if outer.Err() != nil {
			// Shutting down, or the bus took the message back: the message
			// did not fail, it was interrupted. Nack it for redelivery.
			return nil, err
		}
		handler := message.HandlerNameFromCtx(msg.Context())
		// A record is published again when it is landed again (a pull's
		// overlap, a retried import): it fails the same way, and is the
		// same dead letter, with one more attempt. A replayed one that
		// fails again is a dead letter of its own: Replay removes the one
		// it replayed once the bus has the message, which may be after
		// the stage failed on it again.
		key := msg.UUID
		if k := msg.Metadata.Get(MetaIdempotencyKey); k != "" {
			key = k
			if from := msg.Metadata.Get(MetaReplayedFrom); from != "" {
				key += "/replay:" + from
			}
		}
		dl := store.DeadLetter{
			Key:        key + "/" + handler,
			Handler:    handler,
			Topic:      message.SubscribeTopicFromCtx(msg.Context()),
			Source:     msg.Metadata.Get(MetaSource),
			Entity:     msg.Metadata.Get(MetaEntity),
			ExternalID: msg.Metadata.Get(MetaExternalID),
			Payload:    msg.Payload,
			Metadata:   msg.Metadata,
			Reason:     err.Error(),
			Attempts:   max(int(n.Load()), 1),
		}
		ctx := context.WithoutCancel(msg.Context())
		if serr := d.store.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.AddDeadLetter(ctx, dl)
			return err
		}); serr != nil {
			d.log.Error("store dead letter; the message will be redelivered", "handler", handler,
				"message", msg.UUID, "err", serr)
			return nil, fmt.Errorf("store dead letter for %s: %w", msg.UUID, serr)
		}
		d.metrics.deadLettered(handler)
		d.log.Warn("message moved to dead letters", "handler", handler, "message", msg.UUID,
			"source", dl.Source, "entity", dl.Entity, "attempts", dl.Attempts, "permanent", crmhub.IsPermanent(err))
		return nil, nil
	}
}

// safely runs h and turns a panic into a permanent error: a handler that
// panics on a message will panic on it again.
func safely(h message.HandlerFunc, msg *message.Message) (out []*message.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = crmhub.Permanent(fmt.Errorf("handler panicked: %v\n%s", p, debug.Stack()))
		}
	}()
	return h(msg)
}
