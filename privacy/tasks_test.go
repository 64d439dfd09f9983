package privacy_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/privacy"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// fakeEraser records the erasures it is given; fail, when set, decides
// the outcome of each.
type fakeEraser struct {
	fail func(e crmhub.Erasure) error

	mu  sync.Mutex
	got []crmhub.Erasure
}

func (f *fakeEraser) Erase(_ context.Context, e crmhub.Erasure) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, e)
	if f.fail != nil {
		return f.fail(e)
	}
	return nil
}

func TestErasureTasksAreCarriedOutAndFinished(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		svc := privacy.New(s, privacy.Options{Destinations: []string{"shopify-tags", "erp-out"}})
		sara := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), Email: "sara@example.com",
			Emails: []string{"sara@example.com"}, Phone: "+971501234567", Phones: []string{"+971501234567"},
			Identities: []crmhub.Identity{{Source: "main-store", Type: "shopify", ExternalID: "7039114952811000001"},
				{Source: "erp", Type: "webhook", ExternalID: "C-1042"}}}
		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{sara}) }))
		req, err := svc.Handle(ctx, "cli:erase-sara", "ops", crmhub.PrivacyRequest{Kind: crmhub.PrivacyRedact, Profiles: []string{sara.ID}})
		require.NoError(t, err)
		require.Equal(t, store.PrivacyDone, req.Status)

		// The shop is down for the first attempt.
		outage := errors.New("shopify answered 503")
		shop := &fakeEraser{}
		shop.fail = func(e crmhub.Erasure) error {
			if len(shop.got) == 1 {
				return fmt.Errorf("erase task %d: %w", e.Task, outage)
			}
			return nil
		}
		run, err := svc.RunErasureTasks(ctx, "shopify-tags", shop)
		require.NoError(t, err)
		require.Equal(t, privacy.TaskRun{Failed: 1}, run)
		pending, err := s.ErasureTasks(ctx, "shopify-tags", store.ErasurePending, 0, 10)
		require.NoError(t, err)
		require.Len(t, pending, 1)
		require.Equal(t, 1, pending[0].Attempts)
		require.Contains(t, pending[0].LastError, "503")

		run, err = svc.RunErasureTasks(ctx, "shopify-tags", shop)
		require.NoError(t, err)
		require.Equal(t, privacy.TaskRun{Done: 1}, run)
		require.Len(t, shop.got, 2)
		e := shop.got[1]
		require.Equal(t, sara.ID, e.CustomerID)
		require.Equal(t, req.ID, e.Request)
		require.Equal(t, crmhub.PrivacyRedact, e.Kind)
		require.Empty(t, e.Source, "an operator's request comes from no source")
		require.ElementsMatch(t, sara.Identities, e.Identities)
		require.Len(t, e.EmailSHA256, 1)
		require.NotContains(t, e.EmailSHA256[0], "sara", "hashes only")

		done, err := s.ErasureTasks(ctx, "shopify-tags", store.ErasureDone, 0, 10)
		require.NoError(t, err)
		require.Len(t, done, 1)
		require.Equal(t, 2, done[0].Attempts)
		require.JSONEq(t, `{}`, string(done[0].Subject), "a done task keeps nothing of the person")

		run, err = svc.RunErasureTasks(ctx, "shopify-tags", shop)
		require.NoError(t, err)
		require.Zero(t, run, "nothing left to do")
		left, err := s.ErasureTasks(ctx, "erp-out", store.ErasurePending, 0, 10)
		require.NoError(t, err)
		require.Len(t, left, 1, "another destination's task is its own")
	})
}
