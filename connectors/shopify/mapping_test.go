package shopify_test

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/identity"
)

var update = flag.Bool("update", false, "rewrite the golden testdata/orders/*.want.json files")

// sharedData is where the recorded Shopify payloads live, next to the
// repository (they are not part of it).
var sharedData = filepath.Join("..", "..", "..", "shared", "data", "shopify")

// mapStages are the map and persist stages of main-store with the
// built-in mappings, without a store: what mapping needs.
func mapStages(t testing.TB) *pipeline.Stages {
	t.Helper()
	byEntity, err := shopify.Mappings()
	require.NoError(t, err)
	return pipeline.NewStages(nil, map[string]pipeline.MapSource{"main-store": {ByEntity: byEntity,
		Source: identity.Source{Name: "main-store", Type: shopify.SourceType, DefaultRegion: "AE"}}}, nil, nil)
}

// orderGolden is what a golden file holds: what the built-in mapping makes
// of a payload, and the canonical order the pipeline stores.
type orderGolden struct {
	Mapped mapping.Mapped `json:"mapped"`
	Order  crmhub.Order   `json:"order"`
}

// TestOrderMappingGolden maps recorded Shopify orders (webhook test
// notifications and REST fixtures, read from ../shared/data) and orders
// written for the cases they lack (refunds, guests) with the built-in
// mapping, and compares with testdata/orders/*.want.json.
func TestOrderMappingGolden(t *testing.T) {
	st := mapStages(t)
	cases := map[string]struct{ file, path string }{
		"orders-create-notification": {filepath.Join(sharedData, "webhooks", "orders_create.shopify-test-notification.json"), ""},
		"order-rest-resource":        {filepath.Join(sharedData, "webhooks", "order_rest_resource_example.webhookdb-spec.json"), ""},
		"go-shopify-order":           {filepath.Join(sharedData, "go-shopify-fixtures", "order.json"), "order"},
		"python-api-order":           {filepath.Join(sharedData, "shopify_python_api-fixtures", "order.json"), "order"},
	}
	inputs, err := filepath.Glob(filepath.Join("testdata", "orders", "*.input.json"))
	require.NoError(t, err)
	require.NotEmpty(t, inputs)
	for _, in := range inputs {
		cases[strings.TrimSuffix(filepath.Base(in), ".input.json")] = struct{ file, path string }{in, ""}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(tc.file)
			if errors.Is(err, os.ErrNotExist) && strings.HasPrefix(tc.file, sharedData) {
				t.Skipf("recorded Shopify payloads not found at %s (they live in ../shared/data)", tc.file)
			}
			require.NoError(t, err)
			if tc.path != "" {
				b = []byte(gjson.GetBytes(b, tc.path).Raw)
			}
			got := mapOrder(t, st, b)
			out, err := json.MarshalIndent(got, "", "  ")
			require.NoError(t, err)
			want := filepath.Join("testdata", "orders", name+".want.json")
			if *update {
				require.NoError(t, os.WriteFile(want, append(out, '\n'), 0o644))
			}
			wantBytes, err := os.ReadFile(want)
			require.NoError(t, err, "run go test ./connectors/shopify/ -run TestOrderMappingGolden -update to create it")
			require.JSONEq(t, string(wantBytes), string(out))
		})
	}
}

// mapOrder maps one orders/updated payload both ways: the rules alone,
// and the map stage that makes the canonical order.
func mapOrder(t *testing.T, st *pipeline.Stages, payload []byte) orderGolden {
	t.Helper()
	byEntity, err := shopify.Mappings()
	require.NoError(t, err)
	rec, err := mapping.JSONRecord(payload)
	require.NoError(t, err)
	m, err := byEntity[crmhub.EntityOrder].Apply(rec, mapping.Options{DefaultRegion: "AE"})
	require.NoError(t, err)
	env := crmhub.Envelope{Source: "main-store", SourceType: shopify.SourceType, Entity: crmhub.EntityOrder,
		ExternalID: m.ExternalID, Payload: payload, ReceivedAt: time.Now()}
	out, err := st.MapEnvelope(env)
	require.NoError(t, err)
	require.NotNil(t, out)
	require.Equal(t, crmhub.EntityOrder, out.Entity)
	var o crmhub.Order
	require.NoError(t, json.Unmarshal(out.Payload, &o))
	return orderGolden{Mapped: m, Order: o}
}
