package main

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/store"
)

// pushConfig is a shop on the fake with a shopify destination on it.
const pushConfig = shopConfig + `    base_url: ${CRMHUB_TEST_SHOP_URL}
` + tagsDestination + `    push: [tags, metafields]
  - name: crm
    type: hubspot
    access_token: ${CRMHUB_TEST_HUBSPOT_TOKEN}
`

// caughtUp reports whether the push stage has acknowledged every profile
// announced so far, and how many there were.
func caughtUp(ctx context.Context, s *store.Store) (bool, int64, error) {
	var last, acked, n int64
	err := s.ReadDB().QueryRowContext(ctx, `SELECT COALESCE(MAX("offset"), 0), COUNT(*) FROM bus_messages WHERE topic = ?`,
		pipeline.PushTopic).Scan(&last, &n)
	if err != nil {
		return false, 0, err
	}
	err = s.ReadDB().QueryRowContext(ctx, `SELECT acked_offset FROM bus_offsets WHERE topic = ?`, pipeline.PushTopic).Scan(&acked)
	return err == nil && acked >= last, n, nil
}

// TestRunPushesToShopifyOnceDespiteTheEcho runs crmhub with a shopify
// destination: a customer the shop announces is pushed once, and the
// customers/update webhook the push causes flows through crmhub without
// another request.
func TestRunPushesToShopifyOnceDespiteTheEcho(t *testing.T) {
	shop := shopifytest.New(t, shopifytest.Options{Scopes: []string{"read_customers", "write_customers"}, RestoreRate: 1000})
	at := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	shop.Put(shopifytest.Customer{ID: 7039114952811000001, FirstName: "Sara", LastName: "Al Amiri", Email: "sara@example.com",
		State: "ENABLED", Tags: []string{"crmhub:segment-old", "vip"}, CreatedAt: at, UpdatedAt: at})
	t.Setenv("CRMHUB_TEST_SHOPIFY_TOKEN", shop.Token())
	t.Setenv("CRMHUB_TEST_WEBHOOK_SECRET", "webhook-secret")
	t.Setenv("CRMHUB_TEST_SHOP_URL", shop.URL())
	t.Setenv("CRMHUB_TEST_HUBSPOT_TOKEN", "pat-not-used")
	dir := t.TempDir()
	path := writeFile(t, dir, "crmhub.yaml", pushConfig)

	r := startRun(t, path)
	shop.SendWebhooks(t, shopifytest.WebhookTarget{URL: "http://" + r.addr + "/webhooks/shopify/main-store", Secret: "webhook-secret"})
	status, err := shop.Notify("customers/create", 7039114952811000001)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)

	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")})
	require.NoError(t, err)
	defer s.Close()
	require.Eventually(t, func() bool { return len(shop.Mutations()) > 0 }, 60*time.Second, 10*time.Millisecond, "%s", r.stderr)
	// The echo is landed, resolved and announced, and the push stage has
	// seen every announcement.
	require.Eventually(t, func() bool {
		if w := shop.Webhooks(); w.Delivered < 2 || w.InFlight > 0 {
			return false
		}
		done, announced, err := caughtUp(ctx, s)
		processed, err2 := s.CountProcessed(ctx, pipeline.HandlerPersist)
		return err == nil && err2 == nil && processed == 2 && announced >= 2 && done
	}, 60*time.Second, 10*time.Millisecond, "%s", r.stderr)

	muts := shop.Mutations()
	require.Len(t, muts, 1, "the echo of the push sent nothing: %+v", muts)
	require.Equal(t, []string{"crmhub:segment-old"}, muts[0].RemoveTags, "the profile has no segments: no owned tags")
	profile, err := s.CustomerIDByIdentity(ctx, "main-store", "7039114952811000001")
	require.NoError(t, err)
	require.Equal(t, profile, shop.Metafields(7039114952811000001)["crmhub.unified_id"].Value)
	got, _ := shop.Customer(7039114952811000001)
	require.Equal(t, []string{"vip"}, got.Tags)

	require.Equal(t, exitOK, r.stop(t), r.stderr.String())
	logs := r.stderr.String()
	require.Contains(t, logs, `msg="pushing profiles" destination=shopify-tags`)
	require.Contains(t, logs, `destination=crm type=hubspot`, "a destination type not written yet is named")
	for _, leak := range []string{"sara@example.com", "Al Amiri", shop.Token(), "webhook-secret"} {
		require.NotContains(t, logs, leak)
	}
}
