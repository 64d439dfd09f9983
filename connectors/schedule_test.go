package connectors_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors"
)

// startScheduler runs s until the test ends and returns a function that
// stops it and waits for Run to return.
func startScheduler(t *testing.T, s *connectors.Scheduler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	// Trigger is refused until Run has started.
	require.Eventually(t, func() bool {
		err := s.Trigger("no-such-job")
		return errors.Is(err, crmhub.ErrNotFound)
	}, 5*time.Second, time.Millisecond)
	return stop
}

func status(s *connectors.Scheduler, name string) connectors.JobStatus {
	for _, st := range s.Status() {
		if st.Name == name {
			return st
		}
	}
	return connectors.JobStatus{}
}

func TestScheduledJobRunsAgainAndNeverTwiceAtOnce(t *testing.T) {
	var running, overlaps, runs atomic.Int64
	s, err := connectors.NewScheduler(nil, connectors.Job{Name: "shop", Type: "shopify", Every: 5 * time.Millisecond,
		Pull: func(ctx context.Context) (int64, error) {
			if running.Add(1) > 1 {
				overlaps.Add(1)
			}
			defer running.Add(-1)
			runs.Add(1)
			time.Sleep(10 * time.Millisecond) // longer than the interval
			return 3, nil
		}})
	require.NoError(t, err)
	stop := startScheduler(t, s)
	require.Eventually(t, func() bool { return runs.Load() >= 5 }, 30*time.Second, time.Millisecond)
	stop()
	require.Zero(t, overlaps.Load(), "two runs of one job overlapped")
	st := status(s, "shop")
	require.Equal(t, runs.Load(), st.Runs, "every run finished before Run returned")
	require.Equal(t, 3*st.Runs, st.Records)
	require.False(t, st.Running)
	require.Zero(t, st.Failures)
	require.Equal(t, "shopify", st.Type)
}

func TestTriggerRunsAnOnDemandJobOnce(t *testing.T) {
	release := make(chan struct{})
	var runs atomic.Int64
	s, err := connectors.NewScheduler(nil, connectors.Job{Name: "erp", Pull: func(ctx context.Context) (int64, error) {
		runs.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return 7, nil
	}})
	require.NoError(t, err)
	require.ErrorIs(t, s.Trigger("erp"), crmhub.ErrConflict, "a scheduler that is not running takes no trigger")
	startScheduler(t, s)

	require.NoError(t, s.Trigger("erp"))
	require.Eventually(t, func() bool { return status(s, "erp").Running }, 5*time.Second, time.Millisecond)
	require.ErrorIs(t, s.Trigger("erp"), crmhub.ErrConflict, "a running job takes no second trigger")
	close(release)
	require.Eventually(t, func() bool { return status(s, "erp").Runs == 1 }, 5*time.Second, time.Millisecond)
	st := status(s, "erp")
	require.EqualValues(t, 7, st.Records)
	require.True(t, st.Next.IsZero(), "an on-demand job has no next run")
	require.False(t, st.LastStarted.IsZero())
	require.False(t, st.LastFinished.Before(st.LastStarted))
	require.EqualValues(t, 1, runs.Load(), "an on-demand job runs only when triggered")

	require.NoError(t, s.Trigger("erp"))
	require.Eventually(t, func() bool { return status(s, "erp").Runs == 2 }, 5*time.Second, time.Millisecond)
}

func TestFailedRunIsCountedAndTriedAgain(t *testing.T) {
	var runs atomic.Int64
	s, err := connectors.NewScheduler(nil, connectors.Job{Name: "shop", Every: time.Millisecond,
		Pull: func(ctx context.Context) (int64, error) {
			if runs.Add(1) == 1 {
				return 2, errors.New("shopify answered 503")
			}
			return 1, nil
		}})
	require.NoError(t, err)
	startScheduler(t, s)
	require.Eventually(t, func() bool { return status(s, "shop").Runs >= 2 }, 10*time.Second, time.Millisecond)
	st := status(s, "shop")
	require.EqualValues(t, 1, st.Failures)
	require.Empty(t, st.LastError, "the last run succeeded")
	require.GreaterOrEqual(t, st.Records, int64(3), "records of a failed run that landed count too")
}

func TestRunStopsThePullsInProgress(t *testing.T) {
	started := make(chan struct{})
	s, err := connectors.NewScheduler(nil, connectors.Job{Name: "shop", Pull: func(ctx context.Context) (int64, error) {
		close(started)
		<-ctx.Done()
		return 0, ctx.Err()
	}})
	require.NoError(t, err)
	stop := startScheduler(t, s)
	require.NoError(t, s.Trigger("shop"))
	<-started
	stop()
	st := status(s, "shop")
	require.False(t, st.Running, "Run returned before the pull it started")
	require.EqualValues(t, 1, st.Failures)
	require.Contains(t, st.LastError, "context canceled")
}

func TestNewSchedulerRefusesBadJobs(t *testing.T) {
	pull := func(context.Context) (int64, error) { return 0, nil }
	for name, jobs := range map[string][]connectors.Job{
		"no name":  {{Pull: pull}},
		"twice":    {{Name: "a", Pull: pull}, {Name: "a", Pull: pull}},
		"no pull":  {{Name: "a"}},
		"negative": {{Name: "a", Every: -time.Second, Pull: pull}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := connectors.NewScheduler(nil, jobs...)
			require.Error(t, err)
		})
	}
}
