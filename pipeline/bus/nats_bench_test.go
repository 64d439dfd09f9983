package bus

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/pipeline/bus/natstest"
)

// BenchmarkNATSBus measures messages per second through a Watermill router
// with a handler that does nothing, publishing in batches of 100, with the
// production tuning, against a NATS server embedded in the test binary (it
// shares the CPUs with the bus and the router):
//
//	go test -run '^$' -bench NATS -benchtime 20000x ./pipeline/bus/
func BenchmarkNATSBus(b *testing.B) {
	bus := natsTestBus(b, natstest.Start(b), "bench", defaultNATSConfig())
	require.NoError(b, bus.SubscribeInitialize("bench"))
	benchRouter(b, bus, func(msgs []*message.Message) error { return bus.Publish("bench", msgs...) })
}
