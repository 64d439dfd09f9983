package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

// touchEvery is how stale a token's last-used time may get: a token is
// touched on its first request after that, not on every request, so that
// reading the API costs no write.
const touchEvery = time.Minute

// authenticate returns the token the request presents in its
// Authorization header. Neither the header nor the token is ever logged.
func (a *REST) authenticate(r *http.Request) (store.Token, error) {
	scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return store.Token{}, errorf(http.StatusUnauthorized, CodeUnauthorized,
			"an API token is required: send Authorization: Bearer TOKEN (see crmhub token create)")
	}
	tok, err := a.store.Authenticate(r.Context(), secret)
	if errors.Is(err, crmhub.ErrNotFound) {
		return store.Token{}, errorf(http.StatusUnauthorized, CodeUnauthorized,
			"the API token is unknown or revoked")
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("authenticate api token: %w", err)
	}
	return tok, nil
}

// touch records that tok was used, unless it was less than touchEvery
// ago. A failure costs only the last-used time: it is logged and the
// request goes on.
func (a *REST) touch(ctx context.Context, tok store.Token) {
	if tok.LastUsedAt.Valid && a.now().Sub(tok.LastUsedAt.Time) < touchEvery {
		return
	}
	if err := a.store.TouchToken(ctx, tok.ID); err != nil {
		a.log.WarnContext(ctx, "record api token use", "token_id", tok.ID, "err", err)
	}
}

// tokenKey is the context key of the request's token.
type tokenKey struct{}

// tokenID returns the id of the token that authenticated the request, for
// logs that say who did what.
func tokenID(ctx context.Context) string {
	tok, _ := ctx.Value(tokenKey{}).(store.Token)
	return tok.ID
}

// limiters hold a token bucket per API token. Tokens are few (each is
// made by an operator), so the map is not pruned.
type limiters struct {
	mu    sync.Mutex
	byID  map[string]*rate.Limiter
	limit rate.Limit
	burst int
}

func newLimiters(limit rate.Limit, burst int) *limiters {
	return &limiters{byID: map[string]*rate.Limiter{}, limit: limit, burst: burst}
}

// wait takes a request from the bucket of token id at now and returns 0,
// or, when the bucket is empty, leaves it as it was and returns how long
// until it holds a request again.
func (l *limiters) wait(id string, now time.Time) time.Duration {
	l.mu.Lock()
	lim := l.byID[id]
	if lim == nil {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.byID[id] = lim
	}
	l.mu.Unlock()
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Hour // a burst below 1 never admits a request
	}
	d := res.DelayFrom(now)
	if d > 0 {
		res.CancelAt(now)
	}
	return d
}

// retryAfter renders a wait as Retry-After wants it: whole seconds,
// rounded up, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}
