package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

// PushTopic is what the push stage consumes. Destinations are meant to
// take enriched profiles (TopicProfilesEnriched); until the enrich stage
// exists they take profiles as the persist stage announces them, and this
// constant is the one place to change when it does.
const PushTopic = TopicProfilesChanged

// Pusher brings one destination's system up to date with a profile;
// connectors.Destination is one. Push sends only what changed since the
// destination's last push, so the stage may call it for any profile any
// number of times. It is safe for concurrent use; an error marked
// crmhub.Permanent fails the same way when tried again.
type Pusher interface {
	Name() string
	Push(ctx context.Context, c crmhub.Customer) error
}

// Push is the push stage: for every profile announced as changed it reads
// the profile and has every destination push it.
type Push struct {
	store *store.Store
	dests []Pusher
	log   *slog.Logger
}

// NewPush returns the push stage for the given destinations.
func NewPush(s *store.Store, dests []Pusher, log *slog.Logger) *Push {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Push{store: s, dests: dests, log: log.With("handler", HandlerPush)}
}

// SetPush makes Register add the push stage too. Only a process that
// pushes (crmhub run) sets it: profiles announced meanwhile wait on the
// bus for it.
func (st *Stages) SetPush(p *Push) { st.push = p }

// Register adds the stage to p, when there is a destination.
func (ps *Push) Register(p *Pipeline) {
	if len(ps.dests) > 0 {
		p.Consume(HandlerPush, PushTopic, ps.Handle)
	}
}

// Handle pushes the profile a message announces to every destination. A
// profile that no longer exists (erased) or was merged into another (whose
// own message follows) is skipped. A destination that fails does not stop
// the others; the message then fails with every destination's error, and
// a retry or a replay pushes again, which costs the destinations that
// succeeded no request (they send only what changed).
func (ps *Push) Handle(msg *message.Message) error {
	var in changedPayload
	if err := json.Unmarshal(msg.Payload, &in); err != nil || in.CustomerID == "" {
		return crmhub.Permanent(fmt.Errorf("message %s names no profile: %q", msg.UUID, msg.Payload))
	}
	ctx := msg.Context()
	c, err := ps.store.Customer(ctx, in.CustomerID)
	switch {
	case errors.Is(err, crmhub.ErrNotFound):
		return nil
	case err != nil:
		return err
	case c.MergedInto != "":
		return nil
	}
	var errs []error
	permanent := true
	for _, d := range ps.dests {
		if err := d.Push(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("destination %s: %w", d.Name(), err))
			permanent = permanent && crmhub.IsPermanent(err)
		}
	}
	switch {
	case len(errs) == 0:
		return nil
	case permanent:
		return crmhub.Permanent(errors.Join(errs...))
	}
	// One destination's transient failure makes the whole message worth
	// a retry; %v keeps another's permanent mark from ending the retries.
	return fmt.Errorf("push profile %s: %v", c.ID, errors.Join(errs...))
}

// stageTimeout bounds each attempt of a stage: the push stage by
// PushTimeout, every other one by HandlerTimeout.
func stageTimeout(o Options) message.HandlerMiddleware {
	normal, push := middleware.Timeout(o.HandlerTimeout), middleware.Timeout(o.PushTimeout)
	return func(h message.HandlerFunc) message.HandlerFunc {
		n, p := normal(h), push(h)
		return func(msg *message.Message) ([]*message.Message, error) {
			if message.HandlerNameFromCtx(msg.Context()) == HandlerPush {
				return p(msg)
			}
			return n(msg)
		}
	}
}
