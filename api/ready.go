package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// ReadyPattern is where Ready is mounted: open, like /healthz, for load
// balancers and orchestrators.
const ReadyPattern = "GET /readyz"

// readyTimeout bounds a readiness check: a store that takes longer to
// answer a ping is not ready to serve.
const readyTimeout = 2 * time.Second

// Check reports whether a dependency answers; nil means it does.
type Check func(ctx context.Context) error

// Ready answers whether the server can do its work: 200
// {"status":"ready"} when every check passes, else 503 in the error
// shape. Why a check failed is logged, not answered, since it can name
// hosts and databases.
func Ready(logger *slog.Logger, checks ...Check) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		for _, check := range checks {
			if err := check(ctx); err != nil {
				logger.WarnContext(ctx, "not ready", "err", err)
				writeError(w, errorf(http.StatusServiceUnavailable, CodeUnavailable, "not ready: a dependency does not answer"))
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}
