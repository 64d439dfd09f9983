package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/crmhub/crmhub"
)

// Job is one source's pull as the scheduler runs it.
type Job struct {
	// Name is the source's name: the name Trigger and Status use.
	Name string
	// Type is the source's type, for status only.
	Type string
	// Every is how often the pull runs; zero runs it only when triggered.
	Every time.Duration
	// Pull brings in what the source changed since its checkpoints and
	// returns how many records it landed. It is never run twice at once.
	Pull func(ctx context.Context) (records int64, err error)
}

// JobStatus is what the scheduler knows of a job's runs since it started.
type JobStatus struct {
	Name, Type string
	Every      time.Duration
	Running    bool
	// LastStarted and LastFinished are zero before the first run.
	LastStarted, LastFinished time.Time
	// LastError is the error of the last finished run, empty when it
	// succeeded.
	LastError string
	// Runs and Failures count the finished runs and those that failed.
	Runs, Failures int64
	// Records counts the records landed by the runs.
	Records int64
	// Next is when the next scheduled run is due; zero when the job runs
	// only when triggered.
	Next time.Time
}

// Scheduler runs each source's pull on its schedule and on demand, never
// two runs of one job at once. A failed run is logged and counted, and
// the job runs again at its next turn: with webhooks doing most of the
// work, a pull that fails once only delays the reconciliation. Its
// methods are safe for concurrent use.
type Scheduler struct {
	log  *slog.Logger
	jobs []*jobState
	// wake is signalled by Trigger; runs are started by Run's loop only,
	// so that none starts after Run returned.
	wake chan struct{}

	mu      sync.Mutex
	running bool
}

type jobState struct {
	Job
	status    JobStatus
	triggered bool
}

// NewScheduler returns a scheduler of jobs; names must be unique. It does
// no I/O: Run starts it.
func NewScheduler(log *slog.Logger, jobs ...Job) (*Scheduler, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{log: log.With("component", "scheduler"), wake: make(chan struct{}, 1)}
	seen := map[string]bool{}
	for _, j := range jobs {
		switch {
		case j.Name == "":
			return nil, fmt.Errorf("scheduler: a job has no name")
		case seen[j.Name]:
			return nil, fmt.Errorf("scheduler: job %q twice", j.Name)
		case j.Pull == nil:
			return nil, fmt.Errorf("scheduler: job %q has nothing to run", j.Name)
		case j.Every < 0:
			return nil, fmt.Errorf("scheduler: job %q: negative interval %s", j.Name, j.Every)
		}
		seen[j.Name] = true
		s.jobs = append(s.jobs, &jobState{Job: j, status: JobStatus{Name: j.Name, Type: j.Type, Every: j.Every}})
	}
	return s, nil
}

// firstDelay is how long after start the first scheduled run of a job
// waits at most: spread so that several sources do not all pull at once,
// and short, so that what webhooks missed while crmhub was down is caught
// soon after it starts.
const firstDelay = 10 * time.Second

// Run runs the jobs until ctx ends, then waits for the runs in progress,
// which ctx cancels, to return.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return fmt.Errorf("scheduler: already running")
	}
	s.running = true
	now := time.Now()
	for _, j := range s.jobs {
		if j.Every > 0 {
			j.status.Next = now.Add(rand.N(min(firstDelay, j.Every) + 1))
		}
	}
	s.mu.Unlock()

	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next := s.startDue(ctx, &wg, time.Now())
		if next.IsZero() {
			next = time.Now().Add(time.Hour)
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-s.wake:
		}
	}
}

// startDue starts every job that is due or triggered and not running, and
// returns when the next scheduled run is due.
func (s *Scheduler) startDue(ctx context.Context, wg *sync.WaitGroup, now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	for _, j := range s.jobs {
		due := j.Every > 0 && !j.status.Next.After(now)
		if (due || j.triggered) && !j.status.Running && ctx.Err() == nil {
			j.triggered = false
			j.status.Running, j.status.LastStarted = true, now
			if j.Every > 0 {
				j.status.Next = now.Add(j.Every)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.run(ctx, j)
			}()
		}
		if j.Every > 0 && (next.IsZero() || j.status.Next.Before(next)) {
			next = j.status.Next
		}
	}
	return next
}

func (s *Scheduler) run(ctx context.Context, j *jobState) {
	start := time.Now()
	n, err := j.Pull(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &j.status
	st.Running, st.LastFinished, st.LastError = false, time.Now(), ""
	st.Runs++
	st.Records += n
	if err != nil {
		st.Failures++
		st.LastError = err.Error()
	}
	switch {
	case err != nil && ctx.Err() != nil:
		s.log.Info("pull stopped", "source", j.Name, "records", n)
	case err != nil:
		s.log.Warn("pull failed; tried again at its next turn", "source", j.Name, "records", n,
			"next", st.Next, "err", err)
	default:
		s.log.Info("pulled", "source", j.Name, "records", n, "took", time.Since(start).Round(time.Millisecond))
	}
}

// Trigger asks for a run of the named job now. It returns
// crmhub.ErrNotFound for an unknown name and crmhub.ErrConflict when the
// job is running or already asked for, or when the scheduler is not
// running; the run starts once Run's loop sees the request.
func (s *Scheduler) Trigger(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.job(name)
	switch {
	case !s.running:
		return fmt.Errorf("the scheduler is not running: %w", crmhub.ErrConflict)
	case j == nil:
		return fmt.Errorf("source %q has no pull: %w", name, crmhub.ErrNotFound)
	case j.status.Running || j.triggered:
		return fmt.Errorf("a pull of %s is already running: %w", name, crmhub.ErrConflict)
	}
	j.triggered = true
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Status returns every job's status, in the order the jobs were given.
func (s *Scheduler) Status() []JobStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobStatus, len(s.jobs))
	for i, j := range s.jobs {
		out[i] = j.status
	}
	return out
}

func (s *Scheduler) job(name string) *jobState {
	i := slices.IndexFunc(s.jobs, func(j *jobState) bool { return j.Name == name })
	if i < 0 {
		return nil
	}
	return s.jobs[i]
}
