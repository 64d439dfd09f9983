package shopify_test

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/privacy"
	"github.com/crmhub/crmhub/store"
)

const destName = "shopify-tags"

// writeScopes are the scopes of an app that reads and writes customers.
var writeScopes = []string{"read_customers", "write_customers", "read_orders"}

// newPushShop starts a fake shop whose token may write customers, unless
// o says otherwise.
func newPushShop(t testing.TB, o shopifytest.Options) *shopifytest.Server {
	t.Helper()
	if o.Scopes == nil {
		o.Scopes = writeScopes
	}
	if o.RestoreRate == 0 {
		o.RestoreRate = 1000
	}
	return shopifytest.New(t, o)
}

// newDestination is destination shopify-tags of source main-store on the
// fake shop, keeping its state in h's store.
func newDestination(t testing.TB, h *hub, shop *shopifytest.Server, budget *shopify.Budget, push ...string) *shopify.Destination {
	t.Helper()
	if push == nil {
		push = []string{shopify.PushTags, shopify.PushMetafields}
	}
	d, err := shopify.NewDestination(shopify.DestinationConfig{Name: destName, Source: "main-store", Push: push,
		Client: shopify.ClientConfig{Shop: "example.myshopify.com", AccessToken: shop.Token(), BaseURL: shop.URL(),
			Timeout: 2 * time.Second, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Budget: budget}},
		h.store, nil)
	require.NoError(t, err)
	return d
}

// sara is a customer of the fake shop with a tag of the merchant's and a
// tag of crmhub's left from before.
func sara() shopifytest.Customer {
	at := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	return shopifytest.Customer{ID: 7039114952811000001, FirstName: "Sara", LastName: "Al Amiri", Email: "sara@example.com",
		EmailMarketing: "SUBSCRIBED", State: "ENABLED", Locale: "ar", Tags: []string{"crmhub:segment-old", "vip"},
		Currency: "AED", AmountSpent: "812.40", NumberOfOrders: 4, CreatedAt: at, UpdatedAt: at}
}

// enrichment stands in for the enrich stage, which does not exist yet:
// what a profile's segments and RFM are.
type enrichment struct {
	segments []string
	rfm      *crmhub.RFM
}

// pushHub is a hub whose pipeline maps and resolves what the fake shop
// delivers and pushes the profiles to the shop; the shop delivers its
// webhooks to the hub, the echo of crmhub's own writes included.
type pushHub struct {
	*hub
	shop   *shopifytest.Server
	dest   *shopify.Destination
	enrich atomic.Pointer[enrichment]

	mu                         sync.Mutex
	persisted, changed, pushed int64
}

func newPushHub(t *testing.T, o shopifytest.Options) *pushHub {
	t.Helper()
	h := newHub(t, hubOptions{})
	shop := newPushShop(t, o)
	shop.SendWebhooks(t, shopifytest.WebhookTarget{URL: h.url + "/webhooks/shopify/main-store", Secret: secret})
	ph := &pushHub{hub: h, shop: shop, dest: newDestination(t, h, shop, nil)}
	mappings, err := shopify.Mappings()
	require.NoError(t, err)
	st := pipeline.NewStages(h.store, map[string]pipeline.MapSource{"main-store": {ByEntity: mappings,
		Source: identity.Source{Name: "main-store", Type: shopify.SourceType, DefaultRegion: "AE"}}},
		identity.NewResolver(identity.Config{Email: true, Phone: true}), nil)
	st.SetPush(pipeline.NewPush(h.store, []pipeline.Pusher{enriched{ph}}, nil))
	p, err := pipeline.New(h.store, h.bus, pipeline.Options{RetryInterval: 10 * time.Millisecond, MaxRetries: 2,
		Middleware: []message.HandlerMiddleware{ph.count}})
	require.NoError(t, err)
	st.Register(p)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return ph
}

// enriched pushes a profile with the hub's enrichment applied.
type enriched struct{ h *pushHub }

func (e enriched) Name() string { return e.h.dest.Name() }

func (e enriched) Push(ctx context.Context, c crmhub.Customer) error {
	if en := e.h.enrich.Load(); en != nil {
		c.Segments, c.RFM = en.segments, en.rfm
	}
	return e.h.dest.Push(ctx, c)
}

// count counts what the persist and push stages got done.
func (h *pushHub) count(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := next(msg)
		if err == nil {
			h.mu.Lock()
			switch message.HandlerNameFromCtx(msg.Context()) {
			case pipeline.HandlerPersist:
				h.persisted++
				h.changed += int64(len(out))
			case pipeline.HandlerPush:
				h.pushed++
			}
			h.mu.Unlock()
		}
		return out, err
	}
}

// settle waits until every webhook the shop sent is landed, resolved, and
// every profile change it caused was pushed: after it, the shop has seen
// every request crmhub makes of what happened so far.
func (h *pushHub) settle(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		if h.shop.Webhooks().InFlight > 0 {
			return false
		}
		landed := rawCount(t, h.store)
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.persisted >= landed && h.pushed >= h.changed
	}, 60*time.Second, 10*time.Millisecond, "the pipeline did not settle")
}

// edit changes a customer as the merchant does in the admin, one second
// after its last change, and has the shop send customers/update.
func (h *pushHub) edit(t *testing.T, id int64, fn func(c *shopifytest.Customer)) {
	t.Helper()
	c, ok := h.shop.Customer(id)
	require.True(t, ok)
	fn(&c)
	c.UpdatedAt = c.UpdatedAt.Add(time.Second)
	h.shop.Put(c)
	status, err := h.shop.Notify("customers/update", id)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
}

func metafieldKeys(ms map[string]shopifytest.Metafield) []string {
	var out []string
	for k := range ms {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestPushSendsOnlyChangesAndNeverLoops runs the write-back end to end:
// every change of the profile is one request with only what changed, the
// merchant's tags are never touched, an owned tag the merchant removed
// comes back, and the customers/update webhook every write causes goes
// through the whole pipeline without causing another request.
func TestPushSendsOnlyChangesAndNeverLoops(t *testing.T) {
	h := newPushHub(t, shopifytest.Options{})
	c := sara()
	h.shop.Put(c)
	h.enrich.Store(&enrichment{segments: []string{"Champions"}})

	status, err := h.shop.Notify("customers/create", c.ID)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	h.settle(t)
	profile, err := h.store.CustomerIDByIdentity(context.Background(), "main-store", "7039114952811000001")
	require.NoError(t, err)

	muts := h.shop.Mutations()
	require.Len(t, muts, 1, "one request for the first push, none for its echo: %+v", muts)
	require.Equal(t, []string{"crmhub:segment-champions"}, muts[0].AddTags)
	require.Equal(t, []string{"crmhub:segment-old"}, muts[0].RemoveTags, "a leftover owned tag the customer had goes")
	require.Equal(t, []string{"crmhub.segments", "crmhub.unified_id"}, metafieldKeys(muts[0].SetMetafields))
	require.Empty(t, muts[0].DeleteMetafields)
	got, _ := h.shop.Customer(c.ID)
	require.Equal(t, []string{"crmhub:segment-champions", "vip"}, got.Tags)
	require.Equal(t, shopifytest.Metafield{Type: "single_line_text_field", Value: profile}, h.shop.Metafields(c.ID)["crmhub.unified_id"])
	require.Equal(t, shopifytest.Metafield{Type: "list.single_line_text_field", Value: `["Champions"]`},
		h.shop.Metafields(c.ID)["crmhub.segments"])
	require.Equal(t, 2, h.shop.Webhooks().Delivered, "the merchant's create and the echo of crmhub's write")

	// The merchant tags the customer; the profile's segments change.
	h.enrich.Store(&enrichment{segments: []string{"Loyal"}, rfm: &crmhub.RFM{R: 5, F: 4, M: 4, Segment: "Loyal"}})
	h.edit(t, c.ID, func(c *shopifytest.Customer) { c.Tags = append(c.Tags, "wholesale") })
	h.settle(t)
	muts = h.shop.Mutations()
	require.Len(t, muts, 2, "%+v", muts)
	require.Equal(t, []string{"crmhub:rfm-loyal", "crmhub:segment-loyal"}, muts[1].AddTags)
	require.Equal(t, []string{"crmhub:segment-champions"}, muts[1].RemoveTags)
	require.Equal(t, []string{"crmhub.rfm_score", "crmhub.rfm_segment", "crmhub.segments"}, metafieldKeys(muts[1].SetMetafields),
		"the unified id did not change and is not sent again")
	got, _ = h.shop.Customer(c.ID)
	require.Equal(t, []string{"crmhub:rfm-loyal", "crmhub:segment-loyal", "vip", "wholesale"}, got.Tags)

	// The merchant removes an owned tag and one of theirs: crmhub puts
	// its own back and leaves theirs alone.
	h.edit(t, c.ID, func(c *shopifytest.Customer) { c.Tags = []string{"crmhub:segment-loyal", "wholesale"} })
	h.settle(t)
	muts = h.shop.Mutations()
	require.Len(t, muts, 3, "%+v", muts)
	require.Equal(t, []string{"crmhub:rfm-loyal"}, muts[2].AddTags)
	require.Empty(t, muts[2].RemoveTags)
	require.Empty(t, muts[2].SetMetafields)
	require.Empty(t, muts[2].DeleteMetafields)
	got, _ = h.shop.Customer(c.ID)
	require.Equal(t, []string{"crmhub:rfm-loyal", "crmhub:segment-loyal", "wholesale"}, got.Tags)

	// The profile loses its segments: crmhub's tags and values go, the
	// unified id stays.
	h.enrich.Store(nil)
	h.edit(t, c.ID, func(c *shopifytest.Customer) { c.FirstName = "Sarah" })
	h.settle(t)
	muts = h.shop.Mutations()
	require.Len(t, muts, 4, "%+v", muts)
	require.Empty(t, muts[3].AddTags)
	require.Equal(t, []string{"crmhub:rfm-loyal", "crmhub:segment-loyal"}, muts[3].RemoveTags)
	require.Empty(t, muts[3].SetMetafields)
	require.Equal(t, []string{"crmhub.rfm_score", "crmhub.rfm_segment", "crmhub.segments"}, sortedCopy(muts[3].DeleteMetafields))
	got, _ = h.shop.Customer(c.ID)
	require.Equal(t, []string{"wholesale"}, got.Tags)
	require.Equal(t, []string{"crmhub.unified_id"}, metafieldKeys(h.shop.Metafields(c.ID)))

	// Every write came back as a webhook, and none was refused.
	require.Equal(t, 8, h.shop.Webhooks().Delivered, "4 edits by the merchant, 4 echoes")
	require.Zero(t, h.shop.Webhooks().Failed)
	for _, m := range muts {
		require.False(t, m.Refused, "%+v", m)
	}
}

func sortedCopy(xs []string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}

// TestPushAgainSendsNothing pushes one profile many times, also while the
// echo of the first push is still on its way: one request in all.
func TestPushAgainSendsNothing(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop := newPushShop(t, shopifytest.Options{})
	c := sara()
	c.Tags = []string{"vip"}
	shop.Put(c)
	d := newDestination(t, h, shop, nil)
	profile := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), Segments: []string{"vip"},
		Identities: []crmhub.Identity{{Source: "main-store", Type: "shopify", ExternalID: "7039114952811000001"},
			{Source: "erp", Type: "webhook", ExternalID: "C-1042"}}}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { require.NoError(t, d.Push(context.Background(), profile)) })
	}
	wg.Wait()
	require.Len(t, shop.Mutations(), 1)
	got, _ := shop.Customer(c.ID)
	require.Equal(t, []string{"crmhub:segment-vip", "vip"}, got.Tags)

	// Only the destination's source is written to; without tags in its
	// push list, tags are left alone.
	tagless := newDestination(t, h, shop, nil, shopify.PushMetafields)
	profile.Segments = nil
	require.NoError(t, tagless.Push(context.Background(), profile))
	require.Len(t, shop.Mutations(), 2)
	last := shop.Mutations()[1]
	require.Empty(t, last.AddTags)
	require.Empty(t, last.RemoveTags)
	require.Equal(t, []string{"crmhub.segments"}, last.DeleteMetafields)
}

func TestPushRetriesThrottlingAndServerErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults []shopifytest.Fault
	}{
		{"429 with Retry-After", []shopifytest.Fault{shopifytest.TooManyRequests(50 * time.Millisecond)}},
		{"502 then 503", []shopifytest.Fault{shopifytest.ServerError(http.StatusBadGateway), shopifytest.ServerError(http.StatusServiceUnavailable)}},
		{"slower than the timeout", []shopifytest.Fault{shopifytest.Slow(3 * time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, hubOptions{})
			shop := newPushShop(t, shopifytest.Options{})
			shop.Put(sara())
			d := newDestination(t, h, shop, nil)
			shop.Fail(tc.faults...)
			profile := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), Segments: []string{"vip"},
				Identities: []crmhub.Identity{{Source: "main-store", Type: "shopify", ExternalID: "7039114952811000001"}}}
			require.NoError(t, d.Push(context.Background(), profile))
			require.Equal(t, len(tc.faults)+1, shop.Stats().Requests)
			got, _ := shop.Customer(7039114952811000001)
			require.Contains(t, got.Tags, "crmhub:segment-vip")
			require.NoError(t, d.Push(context.Background(), profile))
			require.Equal(t, len(tc.faults)+1, shop.Stats().Requests, "what was written is remembered")
		})
	}
}

func TestPushRefusedIsPermanentAndRemembersNothing(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop := newPushShop(t, shopifytest.Options{Scopes: []string{"read_customers"}})
	shop.Put(sara())
	d := newDestination(t, h, shop, nil)
	profile := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix),
		Identities: []crmhub.Identity{{Source: "main-store", Type: "shopify", ExternalID: "7039114952811000001"}}}
	err := d.Push(context.Background(), profile)
	require.Error(t, err)
	require.True(t, crmhub.IsPermanent(err), "%v", err)
	require.Contains(t, err.Error(), "write_customers", "the error names the missing scope")
	require.Contains(t, err.Error(), profile.ID)
	_, err = h.store.PushState(context.Background(), destName, "main-store", "7039114952811000001")
	require.ErrorIs(t, err, crmhub.ErrNotFound)

	// A customer Shopify no longer has is nothing to push to.
	ok := newPushShop(t, shopifytest.Options{})
	d = newDestination(t, h, ok, nil)
	require.NoError(t, d.Push(context.Background(), profile))
	require.Len(t, ok.Mutations(), 1)
	require.True(t, ok.Mutations()[0].CustomerDidNotExist)
	_, err = h.store.PushState(context.Background(), destName, "main-store", "7039114952811000001")
	require.ErrorIs(t, err, crmhub.ErrNotFound)
}

// TestRefusedPushIsADeadLetter runs the push stage against a shop that
// refuses the writes: the message goes to the dead letters with the
// reason, after no retries.
func TestRefusedPushIsADeadLetter(t *testing.T) {
	h := newPushHub(t, shopifytest.Options{Scopes: []string{"read_customers"}})
	c := sara()
	h.shop.Put(c)
	status, err := h.shop.Notify("customers/create", c.ID)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	var dls []store.DeadLetter
	require.Eventually(t, func() bool {
		dls, err = h.store.DeadLetters(context.Background(), 0, 10)
		return err == nil && len(dls) > 0
	}, 30*time.Second, 10*time.Millisecond)
	require.Len(t, dls, 1)
	require.Equal(t, pipeline.HandlerPush, dls[0].Handler)
	require.Equal(t, pipeline.PushTopic, dls[0].Topic)
	require.Equal(t, 1, dls[0].Attempts, "a refusal is not retried")
	require.Contains(t, dls[0].Reason, "destination "+destName)
	require.Contains(t, dls[0].Reason, "write_customers")
	require.Len(t, h.shop.Mutations(), 0, "the refused request changed nothing")
}

// TestPushesAndPullsShareTheShopsBudget pulls a shop's customers while
// pushing to them, through clients that share the shop's budget: after
// the first THROTTLED answer, no request of either asks for more than the
// bucket holds.
func TestPushesAndPullsShareTheShopsBudget(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop := newPushShop(t, shopifytest.Options{MaximumAvailable: 120, RestoreRate: 600, Drained: 100})
	cs := shopifytest.Generate(600, start)
	shop.Put(cs...)
	budget := shopify.SharedBudget("example.myshopify.com", shop.URL())
	client, err := shopify.NewClient(shopify.ClientConfig{Shop: "example.myshopify.com", AccessToken: shop.Token(),
		BaseURL: shop.URL(), MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Budget: budget}, nil)
	require.NoError(t, err)
	l := &ingestLander{in: pipeline.NewIngester(h.store, h.bus, true), source: "main-store"}
	pull, err := shopify.NewCustomerPull(client, l, h.store, shopify.PullConfig{Source: "main-store", PageSize: 50}, nil)
	require.NoError(t, err)
	d := newDestination(t, h, shop, budget)

	pulled := make(chan error, 1)
	go func() {
		_, err := pull.Run(context.Background(), nil)
		pulled <- err
	}()
	// The first request learns the bucket; every later one is paced.
	require.Eventually(t, func() bool { _, ok := budget.Status(); return ok }, 10*time.Second, time.Millisecond)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			for _, c := range cs[i*20 : i*20+20] {
				profile := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), Segments: []string{"vip"},
					Identities: []crmhub.Identity{{Source: "main-store", Type: "shopify", ExternalID: strconv.FormatInt(c.ID, 10)}}}
				require.NoError(t, d.Push(context.Background(), profile))
			}
		})
	}
	wg.Wait()
	require.NoError(t, <-pulled)
	st := shop.Stats()
	require.Equal(t, 1, st.Throttled, "%+v", st)
	require.Zero(t, st.Violations, "%+v", st)
	require.Len(t, shop.Mutations(), 60)
	_, ids := landed(t, h.store)
	require.EqualValues(t, 600, ids)
}

// TestErasureRemovesOwnedTagsAndMetafields erases a person crmhub pushed
// to the shop, as an operator asks (crmhub privacy erase): the erasure
// task of the destination removes crmhub's tags and metafields from their
// customer and nothing else, and is done.
func TestErasureRemovesOwnedTagsAndMetafields(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop := newPushShop(t, shopifytest.Options{})
	c := sara()
	shop.Put(c)
	shop.PutMetafields(c.ID, map[string]shopifytest.Metafield{"custom.note": {Type: "single_line_text_field", Value: "calls back"}})
	d := newDestination(t, h, shop, nil)
	ctx := context.Background()
	profile := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), Email: "sara@example.com", Emails: []string{"sara@example.com"},
		Segments: []string{"Loyal"}, RFM: &crmhub.RFM{R: 5, F: 4, M: 4, Segment: "Loyal"},
		Identities: []crmhub.Identity{{Source: "main-store", Type: "shopify", ExternalID: "7039114952811000001"}}}
	require.NoError(t, h.store.InTx(ctx, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{profile}) }))
	require.NoError(t, d.Push(ctx, profile))
	got, _ := shop.Customer(c.ID)
	require.Equal(t, []string{"crmhub:rfm-loyal", "crmhub:segment-loyal", "crmhub:segment-old", "vip"}, got.Tags,
		"crmhub never saw the customer, so it does not know of the old tag")

	svc := privacy.New(h.store, privacy.Options{Destinations: []string{destName}})
	_, err := svc.Handle(ctx, "cli:erase", "ops", crmhub.PrivacyRequest{Kind: crmhub.PrivacyRedact, Profiles: []string{profile.ID}})
	require.NoError(t, err)
	before := len(shop.Mutations())
	run, err := svc.RunErasureTasks(ctx, destName, d)
	require.NoError(t, err)
	require.Equal(t, privacy.TaskRun{Done: 1}, run)

	muts := shop.Mutations()[before:]
	require.Len(t, muts, 1)
	require.Equal(t, []string{"crmhub:rfm-loyal", "crmhub:segment-loyal", "crmhub:segment-old"}, sortedCopy(muts[0].RemoveTags),
		"the erasure reads the customer first and removes every owned tag")
	require.Empty(t, muts[0].AddTags)
	require.Equal(t, []string{"crmhub.rfm_score", "crmhub.rfm_segment", "crmhub.segments", "crmhub.unified_id"},
		sortedCopy(muts[0].DeleteMetafields))
	got, _ = shop.Customer(c.ID)
	require.Equal(t, []string{"vip"}, got.Tags, "the merchant's tag stays")
	require.Equal(t, []string{"custom.note"}, metafieldKeys(shop.Metafields(c.ID)), "another app's metafield stays")
	_, err = h.store.PushState(ctx, destName, "main-store", "7039114952811000001")
	require.ErrorIs(t, err, crmhub.ErrNotFound)
	tasks, err := h.store.ErasureTasks(ctx, destName, store.ErasureDone, 0, 10)
	require.NoError(t, err)
	require.Len(t, tasks, 1)
}

func TestErasureHasNothingToDo(t *testing.T) {
	gid := crmhub.Identity{Source: "main-store", Type: "shopify", ExternalID: "7039114952811000001"}
	for _, tc := range []struct {
		name     string
		erasure  crmhub.Erasure
		customer bool
		requests int
	}{
		{"the shop redacts its own customer", crmhub.Erasure{Kind: crmhub.PrivacyRedact, Source: "main-store",
			Identities: []crmhub.Identity{gid}}, true, 0},
		{"the shop uninstalled the app", crmhub.Erasure{Kind: crmhub.PrivacyShopRedact, Source: "main-store",
			Identities: []crmhub.Identity{gid}}, true, 0},
		{"the person was never in the shop", crmhub.Erasure{Kind: crmhub.PrivacyRedact, Source: "erp",
			Identities: []crmhub.Identity{{Source: "erp", Type: "webhook", ExternalID: "C-1042"}}}, true, 0},
		{"the customer has nothing of crmhub's", crmhub.Erasure{Kind: crmhub.PrivacyRedact,
			Identities: []crmhub.Identity{gid}}, true, 1},
		{"the customer is gone", crmhub.Erasure{Kind: crmhub.PrivacyRedact, Identities: []crmhub.Identity{gid}}, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, hubOptions{})
			shop := newPushShop(t, shopifytest.Options{})
			if tc.customer {
				c := sara()
				c.Tags = []string{"vip"}
				shop.Put(c)
			}
			d := newDestination(t, h, shop, nil)
			require.NoError(t, d.Erase(context.Background(), tc.erasure))
			require.Equal(t, tc.requests, shop.Stats().Requests, "only a read, when anything")
			require.Empty(t, shop.Mutations())
		})
	}
}

func TestErasureThatFailsIsTriedAgain(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop := newPushShop(t, shopifytest.Options{Scopes: []string{"read_customers"}})
	shop.Put(sara())
	d := newDestination(t, h, shop, nil)
	err := d.Erase(context.Background(), crmhub.Erasure{Task: 7, Kind: crmhub.PrivacyRedact, CustomerID: "cus_01J9Z3K4T5",
		Identities: []crmhub.Identity{{Source: "main-store", Type: "shopify", ExternalID: "7039114952811000001"}}})
	require.Error(t, err)
	require.Contains(t, err.Error(), "task 7")
	require.Contains(t, err.Error(), "write_customers")
	require.NotContains(t, err.Error(), "sara", "the reason is stored with the task: ids only")
}
