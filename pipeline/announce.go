package pipeline

import (
	"context"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/store"
)

// Announcer announces the profiles a change outside the stages touched (an
// operator's merge or unmerge) on TopicProfilesChanged, as the persist
// stage does for the changes it makes, so that the push stage and the
// destinations hear of them. It is safe for concurrent use.
type Announcer struct {
	pub message.Publisher
	// outbox is set when the bus keeps its messages in the store's
	// database: the announcement then commits with the change.
	outbox  bus.TxPublisher
	init    sync.Once
	initErr error
}

// NewAnnouncer returns an Announcer publishing on pub; sharedDB says that
// pub keeps its messages in the store's database (see NewIngester).
func NewAnnouncer(pub message.Publisher, sharedDB bool) *Announcer {
	a := &Announcer{pub: pub}
	if tp, ok := pub.(bus.TxPublisher); ok && sharedDB {
		a.outbox = tp
	}
	return a
}

// Do runs change in one unit of work and announces the profiles it
// returns: in the same transaction when the bus keeps its messages in the
// store's database, else once it committed, when a crash in between leaves
// the profiles unannounced until their next change (their data is
// committed either way).
func (a *Announcer) Do(ctx context.Context, s *store.Store, change func(tx *store.Tx) ([]string, error)) error {
	// A bus that creates a topic's tables on first use would need a second
	// connection in the middle of the transaction.
	a.init.Do(func() {
		if si, ok := a.pub.(message.SubscribeInitializer); ok {
			a.initErr = si.SubscribeInitialize(TopicProfilesChanged)
		}
	})
	if a.initErr != nil {
		return fmt.Errorf("announce: prepare %s: %w", TopicProfilesChanged, a.initErr)
	}
	var changed []string
	err := s.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if changed, err = change(tx); err != nil || a.outbox == nil {
			return err
		}
		if msgs := changedMessages(changed...); len(msgs) > 0 {
			return a.outbox.PublishTx(ctx, tx.SQL(), TopicProfilesChanged, msgs...)
		}
		return nil
	})
	if err != nil || a.outbox != nil {
		return err
	}
	if msgs := changedMessages(changed...); len(msgs) > 0 {
		if err := a.pub.Publish(TopicProfilesChanged, msgs...); err != nil {
			return fmt.Errorf("announce %d changed profiles: %w", len(msgs), err)
		}
	}
	return nil
}
