package api

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// RouteUnmatched is the route label of a request that no route took: an
// unknown path, under /api/ too.
const RouteUnmatched = "unmatched"

// httpMetrics counts the server's requests by route.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// Instrument makes the server count its requests in reg:
//
//	crmhub_http_requests_total{route,method,code}
//	crmhub_http_request_duration_seconds{route}
//
// The route is the pattern that took the request ("POST
// /webhooks/shopify/{source}", "GET /api/v1/customers/{id}"), never its
// path, whose ids and query would make a series per request. Call it
// before Handler or Serve, at most once.
func (s *Server) Instrument(reg prometheus.Registerer) error {
	if s.metrics != nil {
		return errors.New("http server: instrumented twice")
	}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "crmhub", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by route pattern (unmatched: no route took it), method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "crmhub", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	s.metrics = m
	return nil
}

// route is the label of the route that took r, once it is answered.
// ServeMux.ServeHTTP writes the pattern it matched into the request it is
// given, and the REST API hands its own mux the request it got: r.Pattern
// is then the REST route's pattern, and still RESTPattern only when no
// REST route took r. A request refused before the mux ran (a body too
// large) is looked up in the mux.
func (s *Server) route(r *http.Request) string {
	pattern := r.Pattern
	if pattern == "" {
		_, pattern = s.mux.Handler(r)
	}
	if pattern == "" || pattern == RESTPattern {
		return RouteUnmatched
	}
	return pattern
}

// methodLabel is r's method, or "other" for one outside HTTP's own: a
// client picks the method, and each would otherwise be a series.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}
