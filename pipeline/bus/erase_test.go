package bus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// TestDeleteMessagesTx: the buses that keep messages in the store's
// database delete, in the caller's transaction, the messages of every
// topic whose metadata holds all the pairs of a match, and no other.
func TestDeleteMessagesTx(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s := storetest.Open(t, driver)
			b, err := Open(ctx, Options{Driver: driver, DB: s.DB(), ReadDB: s.ReadDB(), PollInterval: 10 * time.Millisecond})
			require.NoError(t, err)
			t.Cleanup(func() { _ = b.Close() })
			msg := func(source, id string) *message.Message {
				m := message.NewMessage(watermill.NewUUID(), []byte(`{"id":"`+id+`"}`))
				m.Metadata.Set("crmhub_source", source)
				m.Metadata.Set("crmhub_external_id", id)
				return m
			}
			for _, topic := range []string{"records.raw", "records.canonical"} {
				require.NoError(t, b.(message.SubscribeInitializer).SubscribeInitialize(topic))
				require.NoError(t, b.Publish(topic, msg("shop", "1"), msg("shop", "2"), msg("erp", "1")))
			}
			require.Equal(t, 6, countMessages(t, s))

			d := b.(MessageDeleter)
			var n int64
			err = s.InTx(ctx, func(tx *store.Tx) (err error) {
				n, err = d.DeleteMessagesTx(ctx, tx.SQL(), []map[string]string{
					{"crmhub_source": "shop", "crmhub_external_id": "1"},
					{}, // matches nothing
				})
				return err
			})
			require.NoError(t, err)
			require.EqualValues(t, 2, n, "shop/1 from both topics")
			require.Equal(t, 4, countMessages(t, s))

			err = s.InTx(ctx, func(tx *store.Tx) error {
				if _, err := d.DeleteMessagesTx(ctx, tx.SQL(), []map[string]string{{"crmhub_source": "erp"}}); err != nil {
					return err
				}
				return errRollback
			})
			require.ErrorIs(t, err, errRollback)
			require.Equal(t, 4, countMessages(t, s), "a rolled-back deletion deletes nothing")
		})
	}
}

var errRollback = errors.New("roll back")

// countMessages counts the messages of every topic.
func countMessages(t *testing.T, s *store.Store) int {
	t.Helper()
	var total int
	for _, table := range storetest.Tables(t, s) {
		messages := table == "bus_messages" ||
			strings.HasPrefix(table, "watermill_") && !strings.HasPrefix(table, "watermill_offsets_")
		if !messages {
			continue
		}
		var n int
		require.NoError(t, s.ReadDB().QueryRow(`SELECT COUNT(*) FROM "`+table+`"`).Scan(&n))
		total += n
	}
	return total
}
