package privacy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

// Eraser carries out erasures in the system a destination pushes to;
// connectors.Eraser is one. Erase returns nil once the system holds
// nothing more of what the destination wrote about the person, and an
// error that names ids only otherwise.
type Eraser interface {
	Erase(ctx context.Context, e crmhub.Erasure) error
}

// TaskRun says what one run over a destination's pending erasure tasks
// did.
type TaskRun struct {
	// Done counts the tasks carried out; Failed those left pending with
	// the reason, for the next run.
	Done, Failed int
}

// taskPage is how many tasks a run reads at a time.
const taskPage = 100

// RunErasureTasks carries out the pending erasure tasks of destination
// with e, oldest first, and records each outcome: a task carried out is
// done, and the subject it kept is dropped; one that fails stays pending
// with the reason and one more attempt, and the next run tries it again.
// It returns early, with what it did so far, when ctx ends or the store
// fails.
func (s *Service) RunErasureTasks(ctx context.Context, destination string, e Eraser) (TaskRun, error) {
	var run TaskRun
	var after int64
	for {
		tasks, err := s.store.ErasureTasks(ctx, destination, store.ErasurePending, after, taskPage)
		if err != nil {
			return run, err
		}
		for _, t := range tasks {
			after = t.ID
			failure := s.runTask(ctx, t, e)
			if ctx.Err() != nil {
				return run, ctx.Err()
			}
			if err := s.store.InTx(ctx, func(tx *store.Tx) error { return tx.FinishErasureTask(ctx, t.ID, failure) }); err != nil {
				return run, err
			}
			if failure != nil {
				run.Failed++
				s.log.Warn("erasure task failed; it is tried again", "destination", destination, "task", t.ID,
					"request", t.RequestID, "attempts", t.Attempts+1, "err", failure)
				continue
			}
			run.Done++
			s.log.Info("erasure task done", "destination", destination, "task", t.ID, "request", t.RequestID)
		}
		if len(tasks) < taskPage {
			return run, nil
		}
	}
}

// runTask has e carry out one task.
func (s *Service) runTask(ctx context.Context, t store.ErasureTask, e Eraser) error {
	er, err := s.erasure(ctx, t)
	if err != nil {
		return err
	}
	return e.Erase(ctx, er)
}

// erasure is what a destination gets of a task: the request's kind and
// source, the profile and what the task kept to match the person by.
func (s *Service) erasure(ctx context.Context, t store.ErasureTask) (crmhub.Erasure, error) {
	out := crmhub.Erasure{Task: t.ID, Request: t.RequestID, CustomerID: t.CustomerID}
	req, err := s.store.PrivacyRequest(ctx, t.RequestID)
	if err != nil {
		return out, fmt.Errorf("erasure task %d: %w", t.ID, err)
	}
	out.Kind, out.Source = crmhub.PrivacyKind(req.Kind), req.Source
	var sub TaskSubject
	if len(t.Subject) > 0 {
		if err := json.Unmarshal(t.Subject, &sub); err != nil {
			return out, fmt.Errorf("erasure task %d: read its subject: %w", t.ID, err)
		}
	}
	out.Identities, out.EmailSHA256, out.PhoneSHA256 = sub.Identities, sub.EmailSHA256, sub.PhoneSHA256
	return out, nil
}

// RunErasureTasksEvery runs the pending erasure tasks of each destination
// in erasers (by destination name) now and then every interval, until ctx
// ends. A run that fails is logged and the next one tries again.
func (s *Service) RunErasureTasksEvery(ctx context.Context, erasers map[string]Eraser, every time.Duration) {
	if len(erasers) == 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for _, name := range slices.Sorted(maps.Keys(erasers)) {
			run, err := s.RunErasureTasks(ctx, name, erasers[name])
			switch {
			case err != nil && !errors.Is(err, context.Canceled):
				s.log.Warn("erasure tasks not run; tried again later", "destination", name, "err", err)
			case run.Done+run.Failed > 0:
				s.log.Info("erasure tasks run", "destination", name, "done", run.Done, "failed", run.Failed)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
