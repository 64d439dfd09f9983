package api_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/api"
	"github.com/crmhub/crmhub/store"
)

// fakeConnectors answers with status, and Sync with what syncErr says
// for a name; it records the syncs started.
type fakeConnectors struct {
	status  []api.ConnectorStatus
	syncErr map[string]error
	mu      sync.Mutex
	started []string
}

func (f *fakeConnectors) Connectors(context.Context) ([]api.ConnectorStatus, error) {
	return f.status, nil
}

func (f *fakeConnectors) Sync(_ context.Context, name string) error {
	if err, ok := f.syncErr[name]; ok {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, name)
	return nil
}

func TestConnectors(t *testing.T) {
	started := time.Date(2026, 5, 2, 10, 0, 0, 0, time.UTC)
	finished := started.Add(90 * time.Second)
	conns := &fakeConnectors{
		status: []api.ConnectorStatus{
			{Name: "main-store", Type: "shopify", Schedule: "15m", LastStarted: &started, LastFinished: &finished,
				LastError: "shopify: 503", Errors: 2, Records: 1234, DeadLetters: 3,
				Streams: []api.StreamStatus{{Stream: "customers", Cursor: "2026-05-02T09:58:00Z", UpdatedAt: &finished, Lag: 1500 * time.Millisecond}}},
			{Name: "erp", Type: "webhook", Running: true},
		},
		syncErr: map[string]error{
			"nowhere": fmt.Errorf("source %q: %w", "nowhere", crmhub.ErrNotFound),
			"busy":    fmt.Errorf("a sync of busy is running: %w", crmhub.ErrConflict),
			"erp":     fmt.Errorf("erp only receives webhooks: %w", crmhub.ErrInvalid),
		},
	}
	f := newFixture(t, func(o *api.RESTOptions) { o.Connectors = conns })

	resp, body := f.do(t, http.MethodGet, "/api/v1/connectors", f.token[store.ScopeRead], nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.JSONEq(t, `{"data":[
		{"name":"main-store","type":"shopify","schedule":"15m","running":false,
		 "last_started_at":"2026-05-02T10:00:00Z","last_finished_at":"2026-05-02T10:01:30Z",
		 "last_error":"shopify: 503","errors":2,"records":1234,"dead_letters":3,
		 "streams":[{"stream":"customers","cursor":"2026-05-02T09:58:00Z","updated_at":"2026-05-02T10:01:30Z","lag_seconds":1.5}]},
		{"name":"erp","type":"webhook","schedule":"","running":true,"last_started_at":null,"last_finished_at":null,
		 "last_error":"","errors":0,"records":0,"dead_letters":0,"streams":[]}]}`, string(body))

	write := f.token[store.ScopeWrite]
	resp, body = f.do(t, http.MethodPost, "/api/v1/connectors/main-store/sync", write, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)
	require.JSONEq(t, `{"name":"main-store","status":"started"}`, string(body))
	require.Equal(t, []string{"main-store"}, conns.started)

	for name, want := range map[string]struct {
		status int
		code   string
	}{
		"nowhere": {http.StatusNotFound, api.CodeNotFound},
		"busy":    {http.StatusConflict, api.CodeConflict},
		"erp":     {http.StatusUnprocessableEntity, api.CodeUnprocessable},
	} {
		resp, body := f.do(t, http.MethodPost, "/api/v1/connectors/"+name+"/sync", write, nil)
		requireError(t, resp, body, want.status, want.code)
	}
	require.Equal(t, []string{"main-store"}, conns.started, "refused syncs did not start")
}

func TestConnectorsUnavailable(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, http.MethodGet, "/api/v1/connectors", f.token[store.ScopeRead], nil)
	requireError(t, resp, body, http.StatusServiceUnavailable, api.CodeUnavailable)
	resp, body = f.do(t, http.MethodPost, "/api/v1/connectors/main-store/sync", f.token[store.ScopeWrite], nil)
	requireError(t, resp, body, http.StatusServiceUnavailable, api.CodeUnavailable)
}
