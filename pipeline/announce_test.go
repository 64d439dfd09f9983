package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// TestAnnouncerAnnouncesCommittedChangesOnly: the profiles a change
// returns are announced on TopicProfilesChanged, in its transaction on the
// SQLite bus and after it on a bus of its own; a change that fails
// announces nothing.
func TestAnnouncerAnnouncesCommittedChangesOnly(t *testing.T) {
	for _, driver := range []string{bus.DriverSQLite, bus.DriverGoChannel} {
		t.Run(driver, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := storetest.SQLite(t)
			b, err := bus.Open(ctx, bus.Options{Driver: driver, DB: s.DB(), ReadDB: s.ReadDB(), PollInterval: 10 * time.Millisecond})
			require.NoError(t, err)
			defer b.Close()
			msgs, err := b.Subscribe(ctx, pipeline.TopicProfilesChanged)
			require.NoError(t, err)
			ann := pipeline.NewAnnouncer(b, true)

			err = ann.Do(ctx, s, func(tx *store.Tx) ([]string, error) { return []string{"cus_lost"}, errors.New("refused") })
			require.Error(t, err)
			require.NoError(t, ann.Do(ctx, s, func(tx *store.Tx) ([]string, error) { return []string{"cus_a", "", "cus_b"}, nil }))

			var got []string
			for len(got) < 2 {
				select {
				case m := <-msgs:
					var p struct {
						CustomerID string `json:"customer_id"`
					}
					require.NoError(t, json.Unmarshal(m.Payload, &p))
					got = append(got, p.CustomerID)
					m.Ack()
				case <-time.After(10 * time.Second):
					t.Fatalf("announced %v, want cus_a and cus_b", got)
				}
			}
			require.ElementsMatch(t, []string{"cus_a", "cus_b"}, got)
			select {
			case m := <-msgs:
				t.Fatalf("more announced: %s", m.Payload)
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}
