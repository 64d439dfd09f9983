package bus

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// BenchmarkSQLiteBus measures messages per second through a Watermill
// router with a handler that does nothing, publishing in batches of 100:
//
//	go test -run '^$' -bench SQLite -benchtime 20000x ./pipeline/bus/
func BenchmarkSQLiteBus(b *testing.B) {
	b.Run("Publish", func(b *testing.B) {
		benchSQLiteBus(b, func(s *store.Store, bus *sqliteBus, msgs []*message.Message) error {
			return bus.Publish("bench", msgs...)
		})
	})
	b.Run("PublishTx", func(b *testing.B) {
		benchSQLiteBus(b, func(s *store.Store, bus *sqliteBus, msgs []*message.Message) error {
			return s.InTx(context.Background(), func(tx *store.Tx) error {
				return bus.PublishTx(context.Background(), tx.SQL(), "bench", msgs...)
			})
		})
	})
}

func benchSQLiteBus(b *testing.B, publish func(*store.Store, *sqliteBus, []*message.Message) error) {
	const batch = 100
	s := storetest.SQLite(b)
	bus := sqliteTestBus(b, s, "bench", defaultSQLiteConfig())

	var handled atomic.Int64
	done := make(chan struct{})
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(b, err)
	router.AddConsumerHandler("noop", "bench", bus, func(*message.Message) error {
		if handled.Add(1) == int64(b.N) {
			close(done)
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = router.Run(ctx) }()
	<-router.Running()

	payload := make([]byte, 256)
	b.ResetTimer()
	for sent := 0; sent < b.N; sent += batch {
		msgs := make([]*message.Message, min(batch, b.N-sent))
		for i := range msgs {
			msgs[i] = message.NewMessage(watermill.NewUUID(), payload)
			msgs[i].Metadata.Set("source", "bench")
		}
		if err := publish(s, bus, msgs); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("handled %d of %d messages", handled.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	require.NoError(b, router.Close())
}
