package shopify

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

// bulkTestLines reads testdata/bulk/orders.jsonl: order #1042 (lines 0,
// with line items 1 and 2), #1043 (line 3, none) and #1044 (line 4, with
// line items 5 to 7), grouped as Shopify writes them when asked.
func bulkTestLines(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "bulk", "orders.jsonl"))
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// landedBatch is one call of streamFile's land.
type landedBatch struct {
	items    map[string]int64 // order id -> line items
	resumeAt int64
}

// stream runs streamFile over text and collects what it lands.
func stream(t testing.TB, text string, off int64, batch int, complete bool) ([]landedBatch, int64, error) {
	t.Helper()
	var got []landedBatch
	end, err := streamFile(strings.NewReader(text), off, &ordersKind, batch, complete, func(recs []joined, at int64) error {
		lb := landedBatch{items: map[string]int64{}, resumeAt: at}
		for _, r := range recs {
			env, _, err := r.rec.envelope("main-store")
			require.NoError(t, err)
			lb.items[env.ExternalID] = gjson.GetBytes(env.Payload, "line_items.#").Int()
		}
		got = append(got, lb)
		return nil
	})
	return got, end, err
}

func allItems(bs []landedBatch) map[string]int64 {
	out := map[string]int64{}
	for _, b := range bs {
		for id, n := range b.items {
			out[id] = n
		}
	}
	return out
}

func TestStreamFileJoinsLineItemsToTheirOrder(t *testing.T) {
	lines := bulkTestLines(t)
	want := map[string]int64{"5123456789012345678": 2, "5123456789012345679": 0, "5123456789012345680": 3}
	for _, tc := range []struct {
		name    string
		order   []int
		batch   int
		wantErr string
	}{
		{name: "grouped, as crmhub asks", order: []int{0, 1, 2, 3, 4, 5, 6, 7}, batch: 1},
		{name: "children before their order", order: []int{1, 2, 0, 3, 5, 6, 7, 4}, batch: 1},
		{name: "children after other orders that have not landed", order: []int{0, 3, 4, 1, 2, 5, 6, 7}, batch: 10},
		{name: "a child after its order landed", order: []int{0, 1, 3, 2, 4, 5, 6, 7}, batch: 1,
			wantErr: "1 children came after their parent had landed"},
		{name: "children whose order is not in the file", order: []int{0, 1, 2, 3, 5, 6, 7}, batch: 10,
			wantErr: "3 children came after their parent had landed or have no parent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var text strings.Builder
			for _, i := range tc.order {
				text.WriteString(lines[i] + "\n")
			}
			got, end, err := stream(t, text.String(), 0, tc.batch, true)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, want, allItems(got))
			require.EqualValues(t, text.Len(), end)
		})
	}
}

// TestStreamFileResumesAtTheOffsetsItLands reads the file again from each
// offset a batch landed with: what comes after lands, nothing before.
func TestStreamFileResumesAtTheOffsetsItLands(t *testing.T) {
	text := strings.Join(bulkTestLines(t), "\n") + "\n"
	got, _, err := stream(t, text, 0, 1, true)
	require.NoError(t, err)
	require.Len(t, got, 3, "one order a batch")
	for i, b := range got[:2] {
		again, end, err := stream(t, text[b.resumeAt:], b.resumeAt, 1, true)
		require.NoError(t, err)
		require.EqualValues(t, len(text), end)
		require.Equal(t, allItems(got[i+1:]), allItems(again), "resumed at byte %d", b.resumeAt)
	}
}

// TestStreamFileLeavesTheLastOrderOfAPartialFile: a failed operation's
// file may stop in the middle of an order's line items, or of a line.
func TestStreamFileLeavesTheLastOrderOfAPartialFile(t *testing.T) {
	lines := bulkTestLines(t)
	whole := strings.Join(lines[:7], "\n") + "\n"
	for name, text := range map[string]string{
		"cut after a line":          whole,
		"cut in the middle of one":  whole + lines[7][:len(lines[7])/2],
		"cut before the line items": strings.Join(lines[:5], "\n") + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			got, _, err := stream(t, text, 0, 10, false)
			require.NoError(t, err)
			require.Equal(t, map[string]int64{"5123456789012345678": 2, "5123456789012345679": 0}, allItems(got))
		})
	}
}

// TestStreamFileReadsShopifysCustomerLines reads Shopify's own sample of
// a bulk file of customers (escaped slashes in ids, nested objects).
func TestStreamFileReadsShopifysCustomerLines(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "data", "shopify", "bulk", "customer_address.jsonl")
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		t.Skipf("%s is absent: the shared reference data comes with CI, not with a clone", path)
	}
	require.NoError(t, err)
	var ids []string
	_, err = streamFile(bytes.NewReader(b), 0, &customersKind, 1, true, func(recs []joined, _ int64) error {
		for _, r := range recs {
			env, _, err := r.rec.envelope("main-store")
			require.NoError(t, err)
			require.Equal(t, "gid://shopify/Customer/"+env.ExternalID, gjson.GetBytes(env.Payload, "admin_graphql_api_id").String())
			ids = append(ids, env.ExternalID)
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"123", "456"}, ids)
}

// TestBulkFileErrorsKeepTheSignatureOut: the signed URL's query is a
// credential; a download that fails says so without it.
func TestBulkFileErrorsKeepTheSignatureOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now
	b, err := newBackfill(fakeQuerier{}, fakeLander{}, fakeCheckpoints{}, BackfillConfig{Source: "main-store"}, nil, &ordersKind)
	require.NoError(t, err)
	_, err = b.open(context.Background(), "http://"+addr+"/bulk/op-1.jsonl?X-Goog-Signature=s3cr3t", 0)
	require.ErrorContains(t, err, "download bulk file")
	require.NotContains(t, err.Error(), "s3cr3t")
}

// TestBulkDownloadDropsAStalledConnection: a file that stops coming
// without the connection breaking is dropped after ReadTimeout, to be
// resumed, rather than holding the sync for good.
func TestBulkDownloadDropsAStalledConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"id":"gid://shopify/Customer/1"}` + "\n"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	b, err := newBackfill(fakeQuerier{}, fakeLander{}, fakeCheckpoints{},
		BackfillConfig{Source: "main-store", ReadTimeout: 50 * time.Millisecond}, nil, &customersKind)
	require.NoError(t, err)
	body, err := b.open(context.Background(), srv.URL+"/bulk/op-1.jsonl", 0)
	require.NoError(t, err)
	defer body.Close()
	got, err := io.ReadAll(body)
	require.ErrorIs(t, err, context.Canceled)
	require.Contains(t, string(got), "Customer/1", "what came before the stall is read")
}

type (
	fakeQuerier     struct{}
	fakeLander      struct{}
	fakeCheckpoints struct{}
)

func (fakeQuerier) Query(context.Context, string, any, any) error { return nil }

func (fakeLander) Land(context.Context, []crmhub.Envelope, string, string) error { return nil }

func (fakeCheckpoints) Checkpoint(context.Context, string, string) (store.Checkpoint, error) {
	return store.Checkpoint{}, crmhub.ErrNotFound
}

func FuzzStreamFile(f *testing.F) {
	f.Add(strings.Join(bulkTestLines(f), "\n"), uint8(1), true)
	f.Add(`{"id":"gid://shopify/LineItem/1","__parentId":"gid://shopify/Order/9"}`+"\n", uint8(3), false)
	f.Add("{\n}\n\n", uint8(0), true)
	f.Fuzz(func(t *testing.T, text string, batch uint8, complete bool) {
		var landed int
		end, err := streamFile(strings.NewReader(text), 0, &ordersKind, int(batch), complete, func(recs []joined, at int64) error {
			if at < 0 || at > int64(len(text)) {
				t.Fatalf("resume offset %d outside the file of %d bytes", at, len(text))
			}
			for _, r := range recs {
				// A record that does not convert is an error of the
				// backfill, never a panic.
				_, _, _ = r.rec.envelope("main-store")
				landed++
			}
			return nil
		})
		if err == nil && end != int64(len(text)) {
			t.Fatalf("read to byte %d of %d", end, len(text))
		}
	})
}
