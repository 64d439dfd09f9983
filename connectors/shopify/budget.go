package shopify

import (
	"math"
	"strings"
	"sync"
	"time"
)

// Budget is one shop's GraphQL cost bucket as this process knows it: the
// throttleStatus of the latest answer to any of the shop's clients, when
// it arrived, and the points of the requests sent and not answered yet.
// Shopify keeps one bucket per app and shop, which pulls and pushes drain
// alike, so every client of a shop in a process shares one Budget (see
// SharedBudget). It is safe for concurrent use.
type Budget struct {
	mu     sync.Mutex
	status ThrottleStatus
	at     time.Time
	// sent numbers the requests in the order they were sent; status is
	// the answer to request seen. An answer to an earlier request than
	// seen is older news and leaves status alone.
	sent, seen uint64
	// pending are the points of the requests sent and not answered, by
	// number. An answer may already count some of them: the budget errs
	// on the side of waiting.
	pending map[uint64]float64
}

// ticket is one request's place in the budget: its number and the points
// taken for it.
type ticket struct {
	seq  uint64
	cost float64
}

// budgets holds the process's budgets, by shop endpoint.
var budgets sync.Map

// SharedBudget returns the process's budget of one shop, made on first use:
// what every client of the shop in the process is given. The shop is named
// by its domain and the base URL that replaces https://{shop}, if any.
func SharedBudget(shop, baseURL string) *Budget {
	key := strings.ToLower(shop) + "|" + baseURL
	b, _ := budgets.LoadOrStore(key, &Budget{})
	return b.(*Budget)
}

// Status returns the bucket as the latest answer reported it, and false
// before any answer reported one.
func (b *Budget) Status() (ThrottleStatus, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status, b.knownLocked()
}

func (b *Budget) knownLocked() bool { return !b.at.IsZero() && b.status.RestoreRate > 0 }

// reserve takes cost points for a request about to be sent, when the
// bucket holds them at now besides those of the requests in flight, and
// returns zero and the request's ticket; otherwise it takes nothing and
// returns how long until the bucket holds them. The bucket is assumed only
// to refill: other apps of the same shop can only make the wait longer,
// which a THROTTLED answer then reports. Before any answer reported the
// bucket, nothing waits.
func (b *Budget) reserve(cost float64, now time.Time) (time.Duration, ticket) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.knownLocked() {
		s := b.status
		avail := math.Min(s.MaximumAvailable, s.CurrentlyAvailable+s.RestoreRate*now.Sub(b.at).Seconds())
		for _, p := range b.pending {
			avail -= p
		}
		if avail < cost {
			return time.Duration(math.Ceil((cost - avail) / s.RestoreRate * float64(time.Second))), ticket{}
		}
	}
	b.sent++
	if b.pending == nil {
		b.pending = map[uint64]float64{}
	}
	b.pending[b.sent] = cost
	return 0, ticket{seq: b.sent, cost: cost}
}

// answered records the answer to the request of t: the points it took are
// given back, since the answer's status, when it has one (s not nil),
// counts what Shopify charged. A status older than the one held (the
// answer to an earlier request, arriving late) is left out.
func (b *Budget) answered(t ticket, s *ThrottleStatus, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.pending, t.seq)
	if s != nil && t.seq >= b.seen {
		b.status, b.at, b.seen = *s, at, t.seq
	}
}
