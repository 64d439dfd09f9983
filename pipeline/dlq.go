package pipeline

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/crmhub/crmhub/store"
)

// MetaReplayedFrom is the metadata key of a replayed message: the id of
// the dead letter it was replayed from.
const MetaReplayedFrom = "crmhub_replayed_from"

// Replay publishes a dead letter again on the topic it failed on, with its
// original payload and metadata (its idempotency key included), and removes
// it from the dead letters once the bus has accepted it. If the stage fails
// on it again it comes back as a new dead letter.
func Replay(ctx context.Context, s *store.Store, pub message.Publisher, id int64) error {
	dl, err := s.DeadLetter(ctx, id)
	if err != nil {
		return err
	}
	if dl.Topic == "" {
		return fmt.Errorf("replay dead letter %d: it has no topic to go back to", id)
	}
	msg := message.NewMessage(watermill.NewUUID(), dl.Payload)
	for k, v := range dl.Metadata {
		msg.Metadata.Set(k, v)
	}
	msg.Metadata.Set(MetaReplayedFrom, fmt.Sprint(id))
	if err := pub.Publish(dl.Topic, msg); err != nil {
		return fmt.Errorf("replay dead letter %d: publish to %s: %w", id, dl.Topic, err)
	}
	return s.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteDeadLetter(ctx, id) })
}
