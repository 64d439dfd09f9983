package pipeline_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/internal/syncbuf"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// The crash test re-executes this test binary as a crmhub-like child
// process: it feeds records through the ingest entry point, as a connector
// would, and runs the pipeline on them. The parent SIGKILLs it at random
// moments, restarts it, and at the end checks that every record was
// processed exactly once.
const (
	envCrashChild   = "CRMHUB_CRASH_CHILD"
	envCrashDriver  = "CRMHUB_CRASH_DRIVER"
	envCrashDSN     = "CRMHUB_CRASH_DSN"
	envCrashRecords = "CRMHUB_CRASH_RECORDS"
	envCrashSeed    = "CRMHUB_CRASH_SEED"
)

// crashRecords and crashKills size the test; the crashlong build tag makes
// them larger.
var (
	crashRecords = 10_000
	crashKills   = 5
)

func TestMain(m *testing.M) {
	if os.Getenv(envCrashChild) == "1" {
		os.Exit(crashChild())
	}
	storetest.Main(m)
}

func TestCrashLosesNothingAndDuplicatesNothing(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			dsn := filepath.Join(t.TempDir(), "crmhub.db")
			if driver == store.DriverPostgres {
				dsn = storetest.PostgresDSN(t)
			}
			seed := uint64(time.Now().UnixNano())
			if s := os.Getenv(envCrashSeed); s != "" {
				seed, _ = strconv.ParseUint(s, 10, 64)
			}
			t.Logf("crash test seed %d (rerun with %s=%d), %d records, %d kills", seed, envCrashSeed, seed, crashRecords, crashKills)
			rng := rand.New(rand.NewPCG(seed, seed))

			ctx := context.Background()
			s, err := store.Open(ctx, store.Options{Driver: driver, DSN: dsn})
			require.NoError(t, err)
			defer s.Close()
			_, err = s.Migrate(ctx)
			require.NoError(t, err)

			for kill := range crashKills {
				child, logs := startCrashChild(t, driver, dsn, seed)
				wait := time.Duration(200+rng.IntN(2500)) * time.Millisecond
				time.Sleep(wait)
				require.NoError(t, child.Process.Signal(syscall.SIGKILL))
				_ = child.Wait()
				c, err := s.Counts(ctx)
				require.NoError(t, err)
				t.Logf("kill %d after %v: %d raw records, %d customers", kill+1, wait, c.RawRecords, c.Customers)
				if t.Failed() {
					t.Log(logs.String())
				}
			}

			child, logs := startCrashChild(t, driver, dsn, seed)
			deadline := time.Now().Add(5 * time.Minute)
			for {
				c, err := s.Counts(ctx)
				require.NoError(t, err)
				if c.Customers >= int64(crashRecords) && strings.Contains(logs.String(), childReady) {
					break
				}
				if time.Now().After(deadline) {
					_ = child.Process.Kill()
					t.Fatalf("not done after 5 minutes: %+v\n%s", c, logs.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
			// Graceful shutdown: SIGTERM, and out within 30 seconds.
			require.NoError(t, child.Process.Signal(syscall.SIGTERM))
			exited := make(chan error, 1)
			go func() { exited <- child.Wait() }()
			select {
			case err := <-exited:
				require.NoError(t, err, "child after SIGTERM:\n%s", logs.String())
			case <-time.After(30 * time.Second):
				_ = child.Process.Kill()
				t.Fatalf("child did not exit within 30s of SIGTERM\n%s", logs.String())
			}

			c, err := s.Counts(ctx)
			require.NoError(t, err)
			require.Equal(t, store.Counts{Customers: int64(crashRecords), Identities: int64(crashRecords),
				RawRecords: int64(crashRecords)}, c, "every record exactly once, no dead letters")
		})
	}
}

// childReady is what the child prints once it handles SIGTERM; a signal
// sent earlier would kill it before it could shut down gracefully.
const childReady = "crash child: ready"

func startCrashChild(t *testing.T, driver, dsn string, seed uint64) (*exec.Cmd, *syncbuf.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashChild+"=1", envCrashDriver+"="+driver, envCrashDSN+"="+dsn,
		envCrashRecords+"="+strconv.Itoa(crashRecords), envCrashSeed+"="+strconv.FormatUint(seed, 10))
	logs := new(syncbuf.Buffer)
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	return cmd, logs
}

// crashChild is the child process: a connector feeding records in batches,
// saving its cursor with each batch, and the pipeline consuming them.
func crashChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	fmt.Fprintln(os.Stderr, childReady)
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 3
	}
	driver, dsn := os.Getenv(envCrashDriver), os.Getenv(envCrashDSN)
	n, _ := strconv.Atoi(os.Getenv(envCrashRecords))
	s, err := store.Open(ctx, store.Options{Driver: driver, DSN: dsn})
	if err != nil {
		return fail(err)
	}
	defer s.Close()
	b, err := bus.Open(ctx, bus.Options{Driver: driver, DB: s.DB(), ReadDB: s.ReadDB(), PollInterval: 20 * time.Millisecond})
	if err != nil {
		return fail(err)
	}
	defer b.Close()
	p, err := pipeline.New(s, b, pipeline.Options{RetryInterval: 10 * time.Millisecond})
	if err != nil {
		return fail(err)
	}
	stage := &customerStage{store: s}
	p.Consume(pipeline.HandlerPersist, pipeline.TopicRaw, stage.handle)
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()

	in := pipeline.NewIngester(s, b, true)
	start := 0
	if cp, err := s.Checkpoint(ctx, "crash", "feed"); err == nil {
		start, _ = strconv.Atoi(cp.Cursor)
	}
	const batch = 100
	for i := start; i < n && ctx.Err() == nil; i += batch {
		envs := make([]crmhub.Envelope, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			envs = append(envs, testEnvelope("crash", j, testRecord{Email: fmt.Sprintf("c%d@example.com", j)}))
		}
		cp := &pipeline.Checkpoint{Source: "crash", Stream: "feed", Cursor: strconv.Itoa(min(i+batch, n))}
		if err := in.Ingest(ctx, envs, cp); err != nil {
			if ctx.Err() != nil {
				break
			}
			return fail(err)
		}
	}
	if err := <-ran; err != nil {
		return fail(err)
	}
	return 0
}
