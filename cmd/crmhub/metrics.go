package main

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crmhub/crmhub/api"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/bus"
)

// mountMetrics serves GET /metrics from the app's registry: the process's
// Go metrics, the server's requests by route (api.Server.Instrument), the
// stages' and the Ingester's counts (pipeline.Metrics, registered by
// open), what the store tells at each scrape (the sources' change counts,
// dead letters and checkpoint lag: pipeline.ChangeCollector and
// StoreCollector) and the bus's depth, when the bus can tell it.
func (a *app) mountMetrics(srv *api.Server) error {
	cs := []prometheus.Collector{collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), pipeline.NewChangeCollector(a.store, a.log),
		pipeline.NewStoreCollector(a.store, a.log)}
	if d, ok := a.bus.(bus.Depther); ok {
		cs = append(cs, pipeline.NewBusCollector(d, a.log))
	}
	for _, c := range cs {
		if err := a.reg.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	if err := srv.Instrument(a.reg); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	srv.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	return nil
}
