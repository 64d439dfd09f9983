package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/api"
)

func TestReady(t *testing.T) {
	var down atomic.Bool
	srv, err := api.New(api.Options{Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	srv.Handle(api.ReadyPattern, api.Ready(nil, func(context.Context) error {
		if down.Load() {
			return errors.New("dial tcp db.internal:5432: connection refused")
		}
		return nil
	}))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	f := &fixture{url: ts.URL, client: ts.Client()}

	resp, body := f.do(t, http.MethodGet, "/readyz", "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "open, no token: %s", body)
	require.JSONEq(t, `{"status":"ready"}`, string(body))

	down.Store(true)
	resp, body = f.do(t, http.MethodGet, "/readyz", "", nil)
	e := requireError(t, resp, body, http.StatusServiceUnavailable, api.CodeUnavailable)
	require.NotContains(t, e.Error.Message, "db.internal", "why stays in the log")
}
