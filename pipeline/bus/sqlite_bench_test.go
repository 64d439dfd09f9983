package bus

import (
	"context"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// BenchmarkSQLiteBus measures messages per second through a Watermill
// router with a handler that does nothing, publishing in batches of 100:
//
//	go test -run '^$' -bench SQLite -benchtime 20000x ./pipeline/bus/
func BenchmarkSQLiteBus(b *testing.B) {
	b.Run("Publish", func(b *testing.B) {
		bus := sqliteTestBus(b, storetest.SQLite(b), "bench", defaultSQLiteConfig())
		benchRouter(b, bus, func(msgs []*message.Message) error { return bus.Publish("bench", msgs...) })
	})
	b.Run("PublishTx", func(b *testing.B) {
		s := storetest.SQLite(b)
		bus := sqliteTestBus(b, s, "bench", defaultSQLiteConfig())
		benchRouter(b, bus, func(msgs []*message.Message) error {
			return s.InTx(context.Background(), func(tx *store.Tx) error {
				return bus.PublishTx(context.Background(), tx.SQL(), "bench", msgs...)
			})
		})
	})
}
