package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables that steer the PostgreSQL tests.
const (
	// EnvRequirePostgres set to 1 turns a missing PostgreSQL into a test
	// failure instead of a skip. CI sets it.
	EnvRequirePostgres = "CRMHUB_REQUIRE_POSTGRES"
	// EnvPostgresDSN points the tests at an existing server; each test
	// still gets a schema of its own.
	EnvPostgresDSN = "CRMHUB_TEST_POSTGRES_DSN"
	// EnvPostgresBin names the directory with initdb and postgres when they
	// are not in /usr/lib/postgresql/*/bin or on PATH.
	EnvPostgresBin = "CRMHUB_POSTGRES_BIN"
)

var exit = os.Exit

var srv struct {
	once sync.Once
	dsn  string // admin DSN of the server
	err  error
	stop func()
}

// PostgresDSN returns the DSN of a fresh, empty schema on the test server,
// dropped when the test ends.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	srv.once.Do(func() { srv.dsn, srv.stop, srv.err = startServer() })
	if srv.err != nil {
		if os.Getenv(EnvRequirePostgres) == "1" {
			t.Fatalf("PostgreSQL is required (%s=1) but unavailable: %v", EnvRequirePostgres, srv.err)
		}
		msg := fmt.Sprintf("!!! SKIPPING PostgreSQL test: %v. Install PostgreSQL server binaries or set %s.", srv.err, EnvPostgresDSN)
		fmt.Fprintln(os.Stderr, msg)
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	schema := "t_" + randomHex(8)
	if err := adminExec(ctx, srv.dsn, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := adminExec(ctx, srv.dsn, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	return withSearchPath(srv.dsn, schema)
}

func withSearchPath(dsn, schema string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

func adminExec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func stopServer() {
	if srv.stop != nil {
		srv.stop()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startServer returns an admin DSN: the one in EnvPostgresDSN, or that of a
// server it starts in a temporary directory.
func startServer() (dsn string, stop func(), err error) {
	if dsn := os.Getenv(EnvPostgresDSN); dsn != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := adminExec(ctx, dsn, "SELECT 1"); err != nil {
			return "", nil, fmt.Errorf("%s does not answer: %w", EnvPostgresDSN, err)
		}
		return dsn, nil, nil
	}
	bin, err := findBinaries()
	if err != nil {
		return "", nil, err
	}
	var lastErr error
	for range 3 { // the free port we picked may be taken before postgres binds it
		dsn, stop, err := startLocal(bin)
		if err == nil {
			return dsn, stop, nil
		}
		lastErr = err
	}
	return "", nil, lastErr
}

func findBinaries() (string, error) {
	if dir := os.Getenv(EnvPostgresBin); dir != "" {
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, postgres) found in /usr/lib/postgresql/*/bin or on PATH")
}

func pgMajor(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// serverUser returns the credential to run initdb and postgres with: they
// refuse to run as root.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and no unprivileged user (postgres or nobody) to run PostgreSQL as")
}

func startLocal(bin string) (string, func(), error) {
	cred, err := serverUser()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "crmhub-pg-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	if err := os.Chmod(dir, 0o755); err != nil {
		cleanup()
		return "", nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "crmhub", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("initdb: %v: %s", err, lastLines(out, 5))
	}
	port, err := freePort()
	if err != nil {
		cleanup()
		return "", nil, err
	}
	logFile := filepath.Join(dir, "postgres.log")
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "logging_collector=off",
		"-c", "shared_buffers=128MB"}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	lf, err := os.Create(logFile)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	// Pdeathsig takes the server down with the test binary even when the
	// binary is killed; it fires when the starting thread exits, so that
	// thread stays locked until the server is gone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	started, exited := make(chan error, 1), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(exited)
			return
		}
		started <- nil
		_ = cmd.Wait()
		lf.Close()
		close(exited)
	}()
	if err := <-started; err != nil {
		cleanup()
		return "", nil, fmt.Errorf("start postgres: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		cleanup()
	}
	dsn := fmt.Sprintf("postgres://crmhub@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := adminExec(ctx, dsn, "SELECT 1")
		cancel()
		if err == nil {
			return dsn, stop, nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logFile)
			cleanup()
			return "", nil, fmt.Errorf("postgres exited during start-up: %s", lastLines(log, 5))
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("postgres did not accept connections within 60s: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
