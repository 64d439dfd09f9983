package shopify

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
)

func TestTagsAreAFunctionOfTheProfile(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		name    string
		profile crmhub.Customer
		want    []string
	}{
		{"nothing to say", crmhub.Customer{Tags: []string{"vip", "crmhub:segment-old"}}, nil},
		{"segments and rfm", crmhub.Customer{Segments: []string{"Champions", "At risk"}, RFM: &crmhub.RFM{R: 5, F: 4, M: 4, Segment: "Loyal customers"}},
			[]string{"crmhub:rfm-loyal-customers", "crmhub:segment-at-risk", "crmhub:segment-champions"}},
		{"rfm without a segment name", crmhub.Customer{RFM: &crmhub.RFM{R: 1, F: 1, M: 1}}, nil},
		{"punctuation and scripts", crmhub.Customer{Segments: []string{"  VIP / Gold!! ", "عملاء مميزون", "---"}},
			[]string{"crmhub:segment-vip-gold", "crmhub:segment-عملاء-مميزون"}},
		{"the same slug twice", crmhub.Customer{Segments: []string{"at risk", "At-Risk"}}, []string{"crmhub:segment-at-risk"}},
		{"longer than Shopify keeps", crmhub.Customer{Segments: []string{long}}, []string{("crmhub:segment-" + long)[:255]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Tags(tc.profile, DefaultTagPrefix))
		})
	}
	require.Equal(t, []string{"crm/segment-a"}, Tags(crmhub.Customer{Segments: []string{"a"}}, "crm/"), "the prefix is the destination's")
}

func TestMetafieldsAreTypedAndOnlyWhatTheProfileHas(t *testing.T) {
	clv := decimal.RequireFromString("1460.50")
	got := Metafields(crmhub.Customer{ID: "cus_01J9Z3K4T5"})
	require.Equal(t, map[string]Metafield{MetafieldUnifiedID: {Type: "single_line_text_field", Value: "cus_01J9Z3K4T5"}}, got)

	got = Metafields(crmhub.Customer{ID: "cus_01J9Z3K4T5", Segments: []string{"loyal", "vip \"gold\""},
		RFM: &crmhub.RFM{R: 5, F: 4, M: 3, Segment: "loyal"}, CLV: &clv})
	require.Equal(t, map[string]Metafield{
		MetafieldUnifiedID:  {Type: "single_line_text_field", Value: "cus_01J9Z3K4T5"},
		MetafieldSegments:   {Type: "list.single_line_text_field", Value: `["loyal","vip \"gold\""]`},
		MetafieldRFMSegment: {Type: "single_line_text_field", Value: "loyal"},
		MetafieldRFMScore:   {Type: "single_line_text_field", Value: "543"},
		MetafieldCLV:        {Type: "number_decimal", Value: "1460.5"},
	}, got)
	for k := range got {
		require.Contains(t, metafieldKeys, k)
	}
}

func TestTagChangeTouchesOwnedTagsOnly(t *testing.T) {
	for _, tc := range []struct {
		name              string
		want, known       []string
		wantAdd, wantDrop []string
	}{
		{"nothing known", []string{"crmhub:a"}, nil, []string{"crmhub:a"}, nil},
		{"unchanged", []string{"crmhub:a", "crmhub:b"}, []string{"crmhub:b", "crmhub:a"}, nil, nil},
		{"one in, one out", []string{"crmhub:a", "crmhub:c"}, []string{"crmhub:a", "crmhub:b"}, []string{"crmhub:c"}, []string{"crmhub:b"}},
		{"all out", nil, []string{"crmhub:a"}, nil, []string{"crmhub:a"}},
		{"case is not a change", []string{"crmhub:segment-vip"}, []string{"CRMHUB:Segment-VIP"}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			add, drop := tagChange(tc.want, tc.known)
			require.Equal(t, tc.wantAdd, add)
			require.Equal(t, tc.wantDrop, drop)
		})
	}
	require.Equal(t, []string{"crmhub:a", "CRMHUB:b"}, owned([]string{"vip", "crmhub:a", "CRMHUB:b", "crmhubx", "wholesale"}, "crmhub:"))
}

func TestMetafieldChangeSendsOnlyDifferences(t *testing.T) {
	id := Metafield{Type: "single_line_text_field", Value: "cus_1"}
	seg := Metafield{Type: "list.single_line_text_field", Value: `["loyal"]`}
	for _, tc := range []struct {
		name      string
		want, was map[string]Metafield
		set       map[string]Metafield
		del       []string
	}{
		{"first push", map[string]Metafield{"unified_id": id}, nil, map[string]Metafield{"unified_id": id}, nil},
		{"unchanged", map[string]Metafield{"unified_id": id, "segments": seg}, map[string]Metafield{"unified_id": id, "segments": seg}, nil, nil},
		{"a value changed", map[string]Metafield{"unified_id": {Type: "single_line_text_field", Value: "cus_2"}},
			map[string]Metafield{"unified_id": id}, map[string]Metafield{"unified_id": {Type: "single_line_text_field", Value: "cus_2"}}, nil},
		{"a value went", map[string]Metafield{"unified_id": id}, map[string]Metafield{"unified_id": id, "segments": seg}, nil, []string{"segments"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, del := metafieldChange(tc.want, tc.was)
			require.Equal(t, tc.set, set)
			require.Equal(t, tc.del, del)
		})
	}
}

func TestNewerComparesShopifyTimestamps(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"2026-03-01T10:00:01+04:00", "2026-03-01T06:00:00Z", true},
		{"2026-03-01T10:00:00+04:00", "2026-03-01T06:00:00Z", false},
		{"2026-03-01T05:59:59Z", "2026-03-01T10:00:00+04:00", false},
		{"2026-03-01T06:00:00Z", "", true},
		{"yesterday", "2026-03-01T06:00:00Z", false},
		{"2026-03-01T06:00:00Z", "yesterday", true},
	} {
		require.Equal(t, tc.want, newer(tc.a, tc.b), "%s after %s", tc.a, tc.b)
	}
}

func TestPushMutationCarriesOnlyTheChanges(t *testing.T) {
	gid := "gid://shopify/Customer/7039114952811000001"
	q, vars := pushMutation(gid, change{addTags: []string{"crmhub:a"}})
	require.Contains(t, q, "tagsAdd(id: $id, tags: $add)")
	require.NotContains(t, q, "tagsRemove")
	require.NotContains(t, q, "metafields")
	require.Equal(t, map[string]any{"id": gid, "add": []string{"crmhub:a"}}, vars)

	q, vars = pushMutation(gid, change{setMetafields: map[string]Metafield{"b": {Type: "t", Value: "2"}, "a": {Type: "t", Value: "1"}},
		deleteMetafields: []string{"c"}})
	require.NotContains(t, q, "$id", "a variable the operation does not use is an error")
	require.Contains(t, q, "metafieldsSet(metafields: $set)")
	require.Contains(t, q, "metafieldsDelete(metafields: $delete)")
	require.Equal(t, []map[string]string{
		{"ownerId": gid, "namespace": "crmhub", "key": "a", "type": "t", "value": "1"},
		{"ownerId": gid, "namespace": "crmhub", "key": "b", "type": "t", "value": "2"},
	}, vars["set"])
	require.Equal(t, []map[string]string{{"ownerId": gid, "namespace": "crmhub", "key": "c"}}, vars["delete"])
}

func TestBudgetIsSharedAndCountsRequestsInFlight(t *testing.T) {
	b := SharedBudget("Example.myshopify.com", "")
	require.Same(t, b, SharedBudget("example.myshopify.com", ""), "one budget per shop")
	require.NotSame(t, b, SharedBudget("example.myshopify.com", "http://127.0.0.1:1"), "a test server is another shop")

	now := time.Now()
	var fresh Budget
	wait, first := fresh.reserve(50, now)
	require.Zero(t, wait, "an unknown bucket does not hold a request back")
	fresh.answered(first, &ThrottleStatus{MaximumAvailable: 100, CurrentlyAvailable: 60, RestoreRate: 10}, now)

	wait, second := fresh.reserve(50, now)
	require.Zero(t, wait)
	wait, _ = fresh.reserve(50, now)
	require.Equal(t, 4*time.Second, wait, "10 points left besides the request in flight; 40 more at 10 a second")

	// Answers arrive out of order: the later request's status holds.
	_, third := fresh.reserve(0, now)
	fresh.answered(third, &ThrottleStatus{MaximumAvailable: 100, CurrentlyAvailable: 10, RestoreRate: 10}, now)
	fresh.answered(second, &ThrottleStatus{MaximumAvailable: 100, CurrentlyAvailable: 60, RestoreRate: 10}, now)
	status, ok := fresh.Status()
	require.True(t, ok)
	require.Equal(t, 10.0, status.CurrentlyAvailable, "an answer to an earlier request is older news")
	wait, _ = fresh.reserve(50, now)
	require.Equal(t, 4*time.Second, wait)
	wait, _ = fresh.reserve(10, now)
	require.Zero(t, wait, "answered requests hold no points")
}
