// Package api is crmhub's HTTP server: the webhook receivers, the health
// check, the REST API under /api/v1 (see REST) and, as it arrives, the
// dashboard.
//
// The server bounds what a client can cost it (read, write and idle
// timeouts, a body size limit) and shuts down gracefully: a request that
// was accepted is answered before Run returns. Handlers are mounted by
// the caller; this package does not know the connectors.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"
)

// Defaults for Options left zero.
const (
	DefaultReadTimeout     = 10 * time.Second
	DefaultWriteTimeout    = 30 * time.Second
	DefaultIdleTimeout     = 120 * time.Second
	DefaultMaxBodyBytes    = 1 << 20
	DefaultShutdownTimeout = 30 * time.Second
)

// Options configure a Server.
type Options struct {
	// Addr is the host:port to listen on; port 0 picks a free one.
	Addr string
	// ReadTimeout bounds reading a request, headers and body.
	ReadTimeout time.Duration
	// WriteTimeout bounds handling a request and writing its response.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request.
	IdleTimeout time.Duration
	// MaxBodyBytes caps request bodies; a larger one is answered 413.
	MaxBodyBytes int64
	// ShutdownTimeout bounds how long Run waits for requests in flight
	// once its context ends.
	ShutdownTimeout time.Duration
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.ReadTimeout, DefaultReadTimeout)
	set(&o.WriteTimeout, DefaultWriteTimeout)
	set(&o.IdleTimeout, DefaultIdleTimeout)
	set(&o.ShutdownTimeout, DefaultShutdownTimeout)
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server is the HTTP server. Mount handlers with Handle before Run.
type Server struct {
	opts    Options
	mux     *http.ServeMux
	log     *slog.Logger
	metrics *httpMetrics // set by Instrument
}

// New returns a server with GET /healthz mounted. It does no I/O.
func New(opts Options) (*Server, error) {
	opts.defaults()
	if opts.Addr == "" {
		return nil, errors.New("http server: no listen address")
	}
	if _, _, err := net.SplitHostPort(opts.Addr); err != nil {
		return nil, fmt.Errorf("http server: listen address %q: %w", opts.Addr, err)
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), log: opts.Logger.With("component", "http")}
	s.mux.HandleFunc("GET /healthz", healthz)
	return s, nil
}

// Handle mounts h at pattern (http.ServeMux syntax, e.g.
// "POST /webhooks/shopify/{source}"). It panics on a pattern that is
// malformed or mounted twice, as ServeMux does: that is a wiring mistake.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler returns the server's handler with its middleware: panics become
// 500s, bodies are limited (both answered in the REST API's error shape,
// whatever the route), requests are logged (method, route, status,
// duration; never bodies, queries or headers) and, once Instrument was
// called, counted. Tests serve it with httptest.
func (s *Server) Handler() http.Handler {
	return s.observe(s.recover(s.limitBody(s.mux)))
}

// Run listens on the configured address and serves until ctx ends, then
// shuts down gracefully: it stops accepting connections and waits, up to
// the shutdown timeout, for the requests in flight to be answered.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("http server: listen on %s: %w", s.opts.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener of the caller's. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.opts.ReadTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Requests outlive a cancelled Run context: they are drained by
		// Shutdown, not cut off.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.log.Info("http server listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("http server: shut down: %w", err)
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("http server: %w", serr))
	}
	s.log.Info("http server stopped")
	return err
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// limitBody refuses a body announced larger than the limit before any
// handler runs, and caps the bytes a handler can read from any other:
// reading past the limit fails with *http.MaxBytesError.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.opts.MaxBodyBytes {
			// The rest of the body is not read: close the connection
			// rather than drain it.
			w.Header().Set("Connection", "close")
			writeError(w, errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
				"the request body is larger than %d bytes", s.opts.MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe logs each request at debug level, and server errors at error
// level, and counts it when the server is instrumented. It runs
// outermost, so that the 413s of limitBody and the 500s of recover count
// too. The route pattern is logged rather than the URL, whose query could
// carry a token.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		took := time.Since(start)
		route := s.route(r)
		level := slog.LevelDebug
		if sw.status >= 500 {
			level = slog.LevelError
		}
		s.log.Log(r.Context(), level, "http request", "method", r.Method, "route", route,
			"status", sw.status, "duration", took)
		if s.metrics != nil {
			s.metrics.requests.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(sw.status)).Inc()
			s.metrics.duration.WithLabelValues(route).Observe(took.Seconds())
		}
	})
}

// recover turns a handler's panic into a 500, logged with its stack.
func (s *Server) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("http handler panicked", "route", r.Pattern, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			writeError(w, errorf(http.StatusInternalServerError, CodeInternal, "internal error"))
		}()
		next.ServeHTTP(w, r)
	})
}
