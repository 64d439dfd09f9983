package bus

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/pipeline/bus/natstest"
	"github.com/crmhub/crmhub/store/storetest"
)

// depthBus is a bus under test for Pending.
type depthBus interface {
	PubSub
	Depther
}

func TestPending(t *testing.T) {
	tests := []struct {
		name string
		open func(t *testing.T) depthBus
		// unsubscribed says whether a topic only published to is
		// reported: the SQLite bus knows a group's topics from its
		// offsets, which its first subscription creates.
		unsubscribed bool
	}{
		{name: "sqlite", open: func(t *testing.T) depthBus {
			return sqliteTestBus(t, storetest.SQLite(t), "crmhub", defaultSQLiteConfig())
		}},
		{name: "postgres", unsubscribed: true, open: func(t *testing.T) depthBus {
			return pgTestBus(t, storetest.Postgres(t).DB(), "crmhub", pgTestConfig())
		}},
		{name: "nats", unsubscribed: true, open: func(t *testing.T) depthBus {
			return natsTestBus(t, natstest.Start(t), "crmhub", natsTestConfig())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.open(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			const topic, other = "records.raw", "profiles.changed"
			pending := func() map[string]int64 {
				got, err := b.Pending(ctx)
				require.NoError(t, err)
				return got
			}
			eventually := func(want int64, msg string) {
				t.Helper()
				require.Eventually(t, func() bool { return pending()[topic] == want }, 20*time.Second,
					20*time.Millisecond, "%s: want %d pending, have %v", msg, want, pending())
			}

			ch, err := b.Subscribe(ctx, topic)
			require.NoError(t, err)
			sqlitePublishN(t, b, topic, 3)
			sqlitePublishN(t, b, other, 2)
			first := sqliteReceive(t, ch, 1, false)[0]
			eventually(3, "a message handed out and not acked is pending")
			first.Ack()
			sqliteReceive(t, ch, 2, true)
			eventually(0, "every message acked")

			got := pending()
			if tt.unsubscribed {
				assert.EqualValues(t, 2, got[other], "a topic nobody consumed yet: all of its messages")
			} else {
				assert.NotContains(t, got, other)
			}
		})
	}
}
