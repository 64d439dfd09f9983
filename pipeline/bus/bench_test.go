package bus

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"
)

// benchRouter measures messages per second through a Watermill router with
// a handler that does nothing: it publishes b.N messages of 256 bytes in
// batches of 100 with publish and waits until the handler has seen all of
// them.
func benchRouter(b *testing.B, sub message.Subscriber, publish func(msgs []*message.Message) error) {
	const batch = 100
	var handled atomic.Int64
	done := make(chan struct{})
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(b, err)
	router.AddConsumerHandler("noop", "bench", sub, func(*message.Message) error {
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
		if err := publish(msgs); err != nil {
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
