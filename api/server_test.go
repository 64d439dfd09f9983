package api_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/api"
)

func TestNewRefusesABadAddress(t *testing.T) {
	for name, addr := range map[string]string{"empty": "", "no port": "localhost"} {
		t.Run(name, func(t *testing.T) {
			_, err := api.New(api.Options{Addr: addr})
			require.Error(t, err)
		})
	}
}

func TestHandler(t *testing.T) {
	srv, err := api.New(api.Options{Addr: "127.0.0.1:0", MaxBodyBytes: 16})
	require.NoError(t, err)
	srv.Handle("POST /echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		_, _ = w.Write(b)
	}))
	srv.Handle("GET /panic", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	tests := []struct {
		name, method, path string
		body               io.Reader
		want               int
	}{
		{"health", http.MethodGet, "/healthz", nil, http.StatusOK},
		{"health is GET only", http.MethodPost, "/healthz", nil, http.StatusMethodNotAllowed},
		{"body within the limit", http.MethodPost, "/echo", strings.NewReader("0123456789abcdef"), http.StatusOK},
		{"announced body over the limit", http.MethodPost, "/echo", strings.NewReader("0123456789abcdefg"), http.StatusRequestEntityTooLarge},
		{"streamed body over the limit", http.MethodPost, "/echo", io.MultiReader(strings.NewReader("0123456789abcdefg")), http.StatusRequestEntityTooLarge},
		{"panic", http.MethodGet, "/panic", nil, http.StatusInternalServerError},
		{"unknown", http.MethodGet, "/nowhere", nil, http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, ts.URL+tc.path, tc.body)
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tc.want, resp.StatusCode)
		})
	}
}

func TestRunDrainsRequestsInFlightOnShutdown(t *testing.T) {
	srv, err := api.New(api.Options{Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	started := make(chan struct{})
	srv.Handle("POST /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(200 * time.Millisecond)
		_, _ = w.Write([]byte("done"))
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- srv.Serve(ctx, ln) }()

	type reply struct {
		status int
		body   string
		err    error
	}
	got := make(chan reply, 1)
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/slow", "text/plain", nil)
		if err != nil {
			got <- reply{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- reply{resp.StatusCode, string(b), err}
	}()
	<-started
	cancel()
	r := <-got
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.status, "a request accepted before shutdown is answered")
	require.Equal(t, "done", r.body)
	require.NoError(t, <-runErr)

	_, err = http.Get("http://" + ln.Addr().String() + "/healthz")
	require.Error(t, err, "no new connections after shutdown")
}
