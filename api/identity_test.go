package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/api"
	"github.com/crmhub/crmhub/store"
)

// identityCall is what the API asked of fakeIdentity.
type identityCall struct {
	op, id, other, mergeID, actor, reason string
	records                               []string
}

// fakeIdentity records the calls it gets and answers with out and err.
type fakeIdentity struct {
	mu    sync.Mutex
	calls []identityCall
	out   api.IdentityOutcome
	err   error
}

func (f *fakeIdentity) answer(c identityCall) (api.IdentityOutcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	return f.out, f.err
}

func (f *fakeIdentity) Merge(_ context.Context, a, b, actor, reason string) (api.IdentityOutcome, error) {
	return f.answer(identityCall{op: "merge", id: a, other: b, actor: actor, reason: reason})
}

func (f *fakeIdentity) Unmerge(_ context.Context, id, mergeID, actor string) (api.IdentityOutcome, error) {
	return f.answer(identityCall{op: "unmerge", id: id, mergeID: mergeID, actor: actor})
}

func (f *fakeIdentity) SplitOff(_ context.Context, id string, records []string, actor string) (api.IdentityOutcome, error) {
	return f.answer(identityCall{op: "split", id: id, records: records, actor: actor})
}

func (f *fakeIdentity) last(t *testing.T) identityCall {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.calls, "the identity was not asked")
	return f.calls[len(f.calls)-1]
}

func (f *fakeIdentity) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// identityResult is the body of the identity routes.
type identityResult struct {
	Merges   []crmhub.Merge `json:"merges"`
	Undone   []string       `json:"undone"`
	Profiles []struct {
		ID         string            `json:"id"`
		MergedInto *string           `json:"merged_into"`
		Identities []crmhub.Identity `json:"identities"`
	} `json:"profiles"`
}

func TestMergeAndUnmerge(t *testing.T) {
	id := &fakeIdentity{}
	f := newFixture(t, func(o *api.RESTOptions) { o.Identity = id })
	write := f.token[store.ScopeWrite]
	survivor := person("Sara", "Al Amiri", "sara@example.com", "")
	survivor.Identities = []crmhub.Identity{{Source: "shop", Type: "shopify", ExternalID: "1"}, {Source: "erp", Type: "webhook", ExternalID: "E-1"}}
	gone := person("Sara", "Haddad", "", "+971501234567")
	gone.MergedInto = survivor.ID
	upsert(t, f.store, survivor, gone)
	merge := crmhub.Merge{ID: "mrg_1", SurvivorID: survivor.ID, MergedIDs: []string{gone.ID}, Rule: "manual", Actor: "api:test-write"}
	id.out = api.IdentityOutcome{Merges: []crmhub.Merge{merge}, Changed: []string{survivor.ID, gone.ID}}

	resp, body := f.do(t, http.MethodPost, "/api/v1/merges", write,
		strings.NewReader(fmt.Sprintf(`{"customer_ids":[%q,%q],"reason":"same person"}`, survivor.ID, gone.ID)))
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Equal(t, identityCall{op: "merge", id: survivor.ID, other: gone.ID, actor: "api:test-write", reason: "same person"},
		id.last(t), "the merge log names the token and keeps the reason")
	var res identityResult
	require.NoError(t, json.Unmarshal(body, &res))
	require.Len(t, res.Merges, 1)
	require.Equal(t, "mrg_1", res.Merges[0].ID)
	require.Empty(t, res.Undone)
	require.Len(t, res.Profiles, 2)
	require.Equal(t, survivor.ID, res.Profiles[0].ID)
	require.Nil(t, res.Profiles[0].MergedInto)
	require.ElementsMatch(t, survivor.Identities, res.Profiles[0].Identities)
	require.Equal(t, gone.ID, res.Profiles[1].ID)
	require.NotNil(t, res.Profiles[1].MergedInto)
	require.Equal(t, survivor.ID, *res.Profiles[1].MergedInto)
	require.Contains(t, string(body), `"identities":[]`, "a profile merged away holds no records")

	tests := []struct {
		name, body string
		want       identityCall
	}{
		{"latest merge", "", identityCall{op: "unmerge", id: survivor.ID, actor: "api:test-admin"}},
		{"empty object", "{}", identityCall{op: "unmerge", id: survivor.ID, actor: "api:test-admin"}},
		{"named merge", `{"merge_id":"mrg_1"}`, identityCall{op: "unmerge", id: survivor.ID, mergeID: "mrg_1", actor: "api:test-admin"}},
		{"records", `{"records":["shop:1","erp:E:1"]}`, identityCall{op: "split", id: survivor.ID, records: []string{"shop:1", "erp:E:1"}, actor: "api:test-admin"}},
	}
	id.out = api.IdentityOutcome{Undone: "mrg_1", Changed: []string{survivor.ID}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(t, http.MethodPost, "/api/v1/customers/"+survivor.ID+"/unmerge", f.token[store.ScopeAdmin],
				strings.NewReader(tc.body))
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
			require.Equal(t, tc.want, id.last(t))
			var res identityResult
			require.NoError(t, json.Unmarshal(body, &res))
			require.Equal(t, []string{"mrg_1"}, res.Undone)
			require.NotNil(t, res.Merges, "merges is a list, empty or not")
		})
	}
}

func TestIdentityErrors(t *testing.T) {
	id := &fakeIdentity{}
	f := newFixture(t, func(o *api.RESTOptions) { o.Identity = id })
	write := f.token[store.ScopeWrite]
	merges, unmerge := "/api/v1/merges", "/api/v1/customers/cus_a/unmerge"
	tests := []struct {
		name, path, body string
		err              error // what the identity answers
		status           int
		code             string
		asked            bool
	}{
		{"unknown profile", merges, `{"customer_ids":["cus_a","cus_nobody"]}`, fmt.Errorf("customer cus_nobody: %w", crmhub.ErrNotFound),
			http.StatusNotFound, api.CodeNotFound, true},
		{"different tenants", merges, `{"customer_ids":["cus_a","cus_b"]}`, fmt.Errorf("tenants: %w", crmhub.ErrConflict),
			http.StatusConflict, api.CodeConflict, true},
		{"nothing to undo", unmerge, ``, fmt.Errorf("no merge to undo: %w", crmhub.ErrConflict),
			http.StatusConflict, api.CodeConflict, true},
		{"records of another profile", unmerge, `{"records":["shop:9"]}`, fmt.Errorf("another profile's: %w", crmhub.ErrInvalid),
			http.StatusUnprocessableEntity, api.CodeUnprocessable, true},
		{"store failure", merges, `{"customer_ids":["cus_a","cus_b"]}`, fmt.Errorf("database is locked"),
			http.StatusInternalServerError, api.CodeInternal, true},
		{"same id twice", merges, `{"customer_ids":["cus_a","cus_a"]}`, nil, http.StatusUnprocessableEntity, api.CodeUnprocessable, false},
		{"one id", merges, `{"customer_ids":["cus_a"]}`, nil, http.StatusBadRequest, api.CodeInvalidBody, false},
		{"three ids", merges, `{"customer_ids":["cus_a","cus_b","cus_c"]}`, nil, http.StatusBadRequest, api.CodeInvalidBody, false},
		{"no body", merges, ``, nil, http.StatusBadRequest, api.CodeInvalidBody, false},
		{"not JSON", merges, `customer_ids=cus_a`, nil, http.StatusBadRequest, api.CodeInvalidBody, false},
		{"unknown field", merges, `{"customer_ids":["cus_a","cus_b"],"force":true}`, nil, http.StatusBadRequest, api.CodeInvalidBody, false},
		{"two objects", merges, `{"customer_ids":["cus_a","cus_b"]}{}`, nil, http.StatusBadRequest, api.CodeInvalidBody, false},
		{"long id", merges, `{"customer_ids":["cus_a","` + strings.Repeat("x", 513) + `"]}`, nil,
			http.StatusBadRequest, api.CodeInvalidBody, false},
		{"merge and records", unmerge, `{"merge_id":"mrg_1","records":["shop:1"]}`, nil, http.StatusBadRequest, api.CodeInvalidBody, false},
		{"record without source", unmerge, `{"records":["1"]}`, nil, http.StatusBadRequest, api.CodeInvalidBody, false},
		{"records not a list", unmerge, `{"records":"shop:1"}`, nil, http.StatusBadRequest, api.CodeInvalidBody, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id.err = tc.err
			before := id.count()
			resp, body := f.do(t, http.MethodPost, tc.path, write, strings.NewReader(tc.body))
			e := requireError(t, resp, body, tc.status, tc.code)
			require.Equal(t, tc.asked, id.count() > before, "whether the identity was asked")
			if tc.status == http.StatusInternalServerError {
				require.NotContains(t, e.Error.Message, "locked", "internal errors stay in the log")
			}
		})
	}

	t.Run("body too large", func(t *testing.T) {
		resp, body := f.do(t, http.MethodPost, merges, write,
			strings.NewReader(`{"customer_ids":["cus_a","cus_b"],"reason":"`+strings.Repeat("x", maxBody)+`"}`))
		requireError(t, resp, body, http.StatusRequestEntityTooLarge, api.CodeBodyTooLarge)
	})
}

func TestIdentityRoutesWithoutIdentity(t *testing.T) {
	f := newFixture(t)
	write := f.token[store.ScopeWrite]
	resp, body := f.do(t, http.MethodPost, "/api/v1/merges", write, strings.NewReader(`{"customer_ids":["cus_a","cus_b"]}`))
	requireError(t, resp, body, http.StatusServiceUnavailable, api.CodeUnavailable)
	resp, body = f.do(t, http.MethodPost, "/api/v1/customers/cus_a/unmerge", write, nil)
	requireError(t, resp, body, http.StatusServiceUnavailable, api.CodeUnavailable)
}
