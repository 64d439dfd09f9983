package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/api"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// TestInstrumentCountsRequestsByRoute serves requests of every kind
// through an instrumented server, the REST API included, and checks that
// each is counted once under the pattern that took it, never its path.
func TestInstrumentCountsRequestsByRoute(t *testing.T) {
	s := storetest.SQLite(t)
	ctx := context.Background()
	var secret string
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) (err error) {
		_, secret, err = tx.CreateToken(ctx, "metrics-test", store.ScopeRead)
		return err
	}))
	rest, err := api.NewREST(api.RESTOptions{Store: s, Replay: func(context.Context, int64) error { return nil }})
	require.NoError(t, err)
	srv, err := api.New(api.Options{Addr: "127.0.0.1:0", MaxBodyBytes: 16})
	require.NoError(t, err)
	srv.Handle(api.RESTPattern, rest)
	// Neither calls WriteHeader: the one writes a body, the other nothing.
	srv.Handle("POST /echo/{id}", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.Handle("DELETE /silent", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Handle("GET /created", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) }))
	srv.Handle("GET /panic", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, srv.Instrument(reg))
	require.Error(t, srv.Instrument(prometheus.NewRegistry()), "instrumenting twice is a wiring mistake")
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	for _, tc := range []struct {
		method, path, body, token string
		want                      int
	}{
		{method: http.MethodPost, path: "/echo/c-1?email=sara@example.com", body: "hi", want: http.StatusOK},
		{method: http.MethodPost, path: "/echo/c-2", body: "hi", want: http.StatusOK},
		{method: http.MethodPost, path: "/echo/c-3", body: "a body over sixteen bytes", want: http.StatusRequestEntityTooLarge},
		{method: http.MethodDelete, path: "/silent", want: http.StatusOK},
		{method: http.MethodGet, path: "/created", want: http.StatusCreated},
		{method: http.MethodGet, path: "/panic", want: http.StatusInternalServerError},
		{method: http.MethodGet, path: "/nowhere/c-4?token=x", want: http.StatusNotFound},
		{method: "BREW", path: "/nowhere", want: http.StatusNotFound},
		{method: http.MethodPost, path: "/created", want: http.StatusMethodNotAllowed},
		{method: http.MethodGet, path: "/api/v1/customers/c-5", token: secret, want: http.StatusNotFound},
		{method: http.MethodGet, path: "/api/v1/customers/c-6", want: http.StatusUnauthorized},
		{method: http.MethodGet, path: "/api/v1/nowhere/c-7", token: secret, want: http.StatusNotFound},
	} {
		req, err := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
		require.NoError(t, err)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, tc.want, resp.StatusCode, "%s %s", tc.method, tc.path)
	}

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP crmhub_http_requests_total HTTP requests answered, by route pattern (unmatched: no route took it), method and status code.
# TYPE crmhub_http_requests_total counter
crmhub_http_requests_total{code="200",method="DELETE",route="DELETE /silent"} 1
crmhub_http_requests_total{code="200",method="POST",route="POST /echo/{id}"} 2
crmhub_http_requests_total{code="413",method="POST",route="POST /echo/{id}"} 1
crmhub_http_requests_total{code="201",method="GET",route="GET /created"} 1
crmhub_http_requests_total{code="500",method="GET",route="GET /panic"} 1
crmhub_http_requests_total{code="404",method="GET",route="unmatched"} 2
crmhub_http_requests_total{code="404",method="other",route="unmatched"} 1
crmhub_http_requests_total{code="405",method="POST",route="unmatched"} 1
crmhub_http_requests_total{code="404",method="GET",route="GET /api/v1/customers/{id}"} 1
crmhub_http_requests_total{code="401",method="GET",route="GET /api/v1/customers/{id}"} 1
`), "crmhub_http_requests_total"))
	families, err := reg.Gather()
	require.NoError(t, err)
	routes := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != "crmhub_http_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			routes[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
		}
	}
	require.Equal(t, map[string]uint64{"DELETE /silent": 1, "POST /echo/{id}": 3, "GET /created": 1, "GET /panic": 1,
		"unmatched": 4, "GET /api/v1/customers/{id}": 2}, routes, "one histogram per route")
}

func TestInstrumentRefusesADuplicateRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	for i, want := range []bool{false, true} {
		srv, err := api.New(api.Options{Addr: "127.0.0.1:0"})
		require.NoError(t, err)
		err = srv.Instrument(reg)
		var are prometheus.AlreadyRegisteredError
		require.Equal(t, want, errors.As(err, &are), "server %d: %v", i, err)
	}
}
