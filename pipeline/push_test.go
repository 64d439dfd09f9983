package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// fakeDestination records the profiles pushed to it; fail, when set,
// decides the outcome of each attempt.
type fakeDestination struct {
	name string
	fail func(c crmhub.Customer, attempt int) error

	mu       sync.Mutex
	attempts map[string]int
	pushed   []string
	// deadline is how far away the last push's deadline was.
	deadline time.Duration
}

func (d *fakeDestination) Name() string { return d.name }

func (d *fakeDestination) Push(ctx context.Context, c crmhub.Customer) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		d.deadline = time.Until(dl)
	}
	if d.attempts == nil {
		d.attempts = map[string]int{}
	}
	d.attempts[c.ID]++
	if d.fail != nil {
		if err := d.fail(c, d.attempts[c.ID]); err != nil {
			return err
		}
	}
	d.pushed = append(d.pushed, c.ID)
	return nil
}

func (d *fakeDestination) got() (pushed []string, attempts map[string]int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.pushed), maps.Clone(d.attempts)
}

// pushStage runs the push stage alone over a bus; handled counts the
// messages it finished with.
type pushStage struct {
	store   *store.Store
	bus     bus.PubSub
	handled atomic.Int64
}

func startPushStage(t *testing.T, dests ...pipeline.Pusher) *pushStage {
	t.Helper()
	return startPushStageWith(t, pipeline.Options{}, dests...)
}

func startPushStageWith(t *testing.T, opts pipeline.Options, dests ...pipeline.Pusher) *pushStage {
	t.Helper()
	s := storetest.SQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	b, err := bus.Open(ctx, bus.Options{Driver: bus.DriverGoChannel})
	require.NoError(t, err)
	ps := &pushStage{store: s, bus: b}
	count := func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if err == nil {
				ps.handled.Add(1)
			}
			return out, err
		}
	}
	opts.MaxRetries, opts.RetryInterval, opts.RetryMaxInterval = 2, time.Millisecond, 5*time.Millisecond
	opts.Middleware = []message.HandlerMiddleware{count}
	p, err := pipeline.New(s, b, opts)
	require.NoError(t, err)
	pipeline.NewPush(s, dests, nil).Register(p)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case <-p.Running():
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not start")
	}
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		_ = b.Close()
	})
	return ps
}

// announce publishes profiles.changed messages as the persist stage does.
func (ps *pushStage) announce(t *testing.T, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		require.NoError(t, ps.bus.Publish(pipeline.PushTopic, message.NewMessage(watermill.NewUUID(), []byte(p))))
	}
}

func changed(id string) string {
	b, _ := json.Marshal(map[string]string{"customer_id": id})
	return string(b)
}

func (ps *pushStage) deadLetters(t *testing.T, n int) []store.DeadLetter {
	t.Helper()
	var dls []store.DeadLetter
	require.Eventually(t, func() bool {
		var err error
		dls, err = ps.store.DeadLetters(context.Background(), 0, 10)
		return err == nil && len(dls) >= n
	}, 30*time.Second, 5*time.Millisecond)
	return dls
}

func TestPushStagePushesStoredProfilesToEveryDestination(t *testing.T) {
	a, b := &fakeDestination{name: "shop-a"}, &fakeDestination{name: "shop-b"}
	ps := startPushStage(t, a, b)
	ctx := context.Background()
	live := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), Email: "sara@example.com", Emails: []string{"sara@example.com"},
		Segments:   []string{"loyal"},
		Identities: []crmhub.Identity{{Source: "main-store", Type: "shopify", ExternalID: "7039114952811000001"}}}
	merged := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), MergedInto: live.ID}
	require.NoError(t, ps.store.InTx(ctx, func(tx *store.Tx) error {
		return tx.UpsertCustomers(ctx, []crmhub.Customer{live, merged})
	}))

	ps.announce(t, changed(live.ID), changed(merged.ID), changed(crmhub.NewID(crmhub.CustomerIDPrefix)), `{"customer":`)
	dls := ps.deadLetters(t, 1)
	require.Eventually(t, func() bool { return ps.handled.Load() == 3 }, 30*time.Second, 5*time.Millisecond)
	for _, d := range []*fakeDestination{a, b} {
		pushed, _ := d.got()
		require.Equal(t, []string{live.ID}, pushed, "%s: the merged and the missing profile are skipped", d.name)
	}
	require.Len(t, dls, 1)
	require.Contains(t, dls[0].Reason, "names no profile")
	require.Equal(t, pipeline.HandlerPush, dls[0].Handler)
}

func TestPushStageRetriesTransientFailuresAndDeadLettersRefusals(t *testing.T) {
	errOutage := errors.New("shop unavailable")
	refuse, flaky, outage := crmhub.NewID(crmhub.CustomerIDPrefix), crmhub.NewID(crmhub.CustomerIDPrefix), crmhub.NewID(crmhub.CustomerIDPrefix)
	steady := &fakeDestination{name: "steady", fail: func(c crmhub.Customer, attempt int) error {
		if c.ID == outage {
			return fmt.Errorf("push %s: %w", c.ID, errOutage)
		}
		return nil
	}}
	picky := &fakeDestination{name: "picky", fail: func(c crmhub.Customer, attempt int) error {
		switch {
		case c.ID == refuse || c.ID == outage:
			return crmhub.Permanent(fmt.Errorf("push %s: refused (403)", c.ID))
		case c.ID == flaky && attempt < 3:
			return fmt.Errorf("push %s: %w", c.ID, errOutage)
		}
		return nil
	}}
	ps := startPushStage(t, steady, picky)
	ctx := context.Background()
	require.NoError(t, ps.store.InTx(ctx, func(tx *store.Tx) error {
		return tx.UpsertCustomers(ctx, []crmhub.Customer{{ID: refuse}, {ID: flaky}, {ID: outage}})
	}))

	ps.announce(t, changed(refuse), changed(flaky), changed(outage))
	dls := ps.deadLetters(t, 2)
	require.Eventually(t, func() bool { return ps.handled.Load() == 1 }, 30*time.Second, 5*time.Millisecond, "%+v", dls)
	byReason := map[bool]store.DeadLetter{}
	for _, dl := range dls {
		byReason[dl.Attempts == 1] = dl
	}
	require.Contains(t, byReason[true].Reason, "destination picky: push "+refuse+": refused (403)")
	require.NotContains(t, byReason[true].Reason, "steady", "the other destination was pushed to")
	require.Equal(t, 3, byReason[false].Attempts, "one destination's transient failure is retried even when another refused")
	require.Contains(t, byReason[false].Reason, "destination steady")
	require.Contains(t, byReason[false].Reason, "destination picky")

	pushed, attempts := picky.got()
	require.Equal(t, []string{flaky}, pushed, "a transient failure is retried until it succeeds")
	require.Equal(t, 3, attempts[flaky])
	pushed, _ = steady.got()
	require.ElementsMatch(t, []string{refuse, flaky, flaky, flaky}, pushed,
		"a retry pushes to every destination again: pushes send only what changed")
}

// TestPushWaitsLongerThanOtherStages checks the deadline a push gets: a
// push waits for its destination's rate limit behind the pushes before
// it, far longer than another stage's attempt may take.
func TestPushWaitsLongerThanOtherStages(t *testing.T) {
	d := &fakeDestination{name: "shop"}
	ps := startPushStageWith(t, pipeline.Options{HandlerTimeout: time.Second, PushTimeout: time.Hour}, d)
	ctx := context.Background()
	id := crmhub.NewID(crmhub.CustomerIDPrefix)
	require.NoError(t, ps.store.InTx(ctx, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{{ID: id}}) }))
	ps.announce(t, changed(id))
	require.Eventually(t, func() bool { return ps.handled.Load() == 1 }, 30*time.Second, 5*time.Millisecond)
	d.mu.Lock()
	defer d.mu.Unlock()
	require.Greater(t, d.deadline, time.Minute, "the push stage's attempts are bounded by PushTimeout")
}
