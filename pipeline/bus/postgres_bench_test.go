package bus

import (
	"context"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// BenchmarkPostgresBus measures messages per second through a Watermill
// router with a handler that does nothing, publishing in batches of 100,
// with the production tuning (100 ms poll interval):
//
//	go test -run '^$' -bench Postgres -benchtime 20000x ./pipeline/bus/
func BenchmarkPostgresBus(b *testing.B) {
	open := func(b *testing.B) (*store.Store, *pgBus) {
		s := storetest.Postgres(b)
		opts := Options{Driver: DriverPostgres, DB: s.DB(), ConsumerGroup: "bench"}
		opts.defaults()
		bus := pgTestBus(b, s.DB(), "bench", pgConfigFrom(opts))
		require.NoError(b, bus.SubscribeInitialize("bench"))
		return s, bus
	}
	b.Run("Publish", func(b *testing.B) {
		_, bus := open(b)
		benchRouter(b, bus, func(msgs []*message.Message) error { return bus.Publish("bench", msgs...) })
	})
	b.Run("PublishTx", func(b *testing.B) {
		s, bus := open(b)
		benchRouter(b, bus, func(msgs []*message.Message) error {
			ctx := context.Background()
			return s.InTx(ctx, func(tx *store.Tx) error {
				return bus.PublishTx(ctx, tx.SQL(), "bench", msgs...)
			})
		})
	})
}
