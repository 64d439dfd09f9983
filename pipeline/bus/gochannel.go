package bus

import "github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

// openGoChannel returns an in-memory bus. It loses every message in flight
// on a crash, so config validation refuses it outside tests.
func openGoChannel(opts Options) PubSub {
	return gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 256}, opts.Logger)
}
