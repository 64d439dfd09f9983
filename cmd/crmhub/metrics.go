package main

import (
	"fmt"

	"github.com/crmhub/crmhub/api"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// mountMetrics serves GET /metrics: the process's Go metrics and the
// sources' change counts from the store (see pipeline.ChangeCollector).
func (a *app) mountMetrics(srv *api.Server) error {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), pipeline.NewChangeCollector(a.store, a.log)} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	srv.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return nil
}
