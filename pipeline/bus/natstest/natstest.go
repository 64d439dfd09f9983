// Package natstest runs a real NATS server with JetStream inside the test
// binary, so that tests of the nats bus need no server installed:
//
//	url := natstest.Start(t)
//	b, err := bus.Open(ctx, bus.Options{Driver: bus.DriverNATS, NATSURL: url})
//
// The server listens on a free loopback port, keeps its streams in a
// temporary directory and is shut down when the test ends.
package natstest

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds how long a server may take to accept connections; a
// loaded CI machine running tests under -race can be slow.
const readyTimeout = 30 * time.Second

// Start starts an embedded NATS server with JetStream and returns its
// client URL (nats://127.0.0.1:PORT). The server is shut down, and its store
// removed, when the test ends.
func Start(t testing.TB) string {
	t.Helper()
	return StartServer(t).URL()
}

// Server is an embedded NATS server with JetStream, for tests that need more
// than a URL: restarting the server to check what survives it.
type Server struct {
	mu   sync.Mutex
	ns   *server.Server
	opts server.Options
	url  string
}

// StartServer starts an embedded NATS server with JetStream, shut down when
// the test ends.
func StartServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{opts: server.Options{
		ServerName: "crmhub-test",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoLog:      true,
		NoSigs:     true,
		// The file store is the one production uses; these caps only keep a
		// runaway test from filling the machine.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  2 << 30,
	}}
	ns, err := s.start()
	if err != nil {
		t.Fatalf("start embedded NATS server: %v", err)
	}
	s.ns = ns
	// Restarts must come back on the same address so clients reconnect.
	port := ns.Addr().(*net.TCPAddr).Port
	s.opts.Port = port
	s.url = "nats://" + net.JoinHostPort(s.opts.Host, strconv.Itoa(port))
	t.Cleanup(s.shutdown)
	return s
}

// URL returns the client URL; it stays the same across restarts.
func (s *Server) URL() string { return s.url }

// Restart shuts the server down and starts it again on the same port and
// store directory, as a broker restart in production would. Clients that
// were connected reconnect on their own.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.shutdown()
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		ns  *server.Server
		err error
	)
	// The port is free again once the old listener is closed, but the OS may
	// take a moment to let us bind it.
	deadline := time.Now().Add(readyTimeout)
	for {
		ns, err = s.start()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("restart embedded NATS server: %v", err)
	}
	s.ns = ns
}

func (s *Server) start() (*server.Server, error) {
	opts := s.opts // the server keeps and mutates the options it is given
	ns, err := server.NewServer(&opts)
	if err != nil {
		return nil, fmt.Errorf("configure server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(readyTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("server not ready for connections within %s", readyTimeout)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("server started without JetStream")
	}
	return ns, nil
}

func (s *Server) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ns == nil {
		return
	}
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.ns = nil
}
