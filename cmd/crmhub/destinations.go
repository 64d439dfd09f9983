package main

import (
	"context"
	"time"

	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/privacy"
)

// erasureEvery is how often crmhub run carries out the erasure tasks of
// destinations; erasures are rare, and a failed task waits this long.
const erasureEvery = time.Minute

// newDestinations builds the configured destinations that crmhub can push
// to. One of a type that is not written yet is left out, with a warning.
func (a *app) newDestinations() ([]connectors.Destination, error) {
	var out []connectors.Destination
	for _, d := range a.cfg.Destinations {
		if d.Type != shopify.DestinationType {
			a.log.Warn("destination type not implemented yet: nothing is pushed to it", "destination", d.Name, "type", d.Type)
			continue
		}
		src := a.cfg.Source(d.Source)
		if src == nil || (src.AccessToken == "" && src.ClientID == "") {
			a.log.Warn("shopify destination left out: its source has neither an access_token nor client credentials",
				"destination", d.Name, "source", d.Source)
			continue
		}
		dest, err := shopify.NewDestination(a.shopifyDestination(d, src), a.store, a.log)
		if err != nil {
			return nil, err
		}
		out = append(out, dest)
	}
	return out, nil
}

// shopifyDestination is the config of a shopify destination on its
// source's shop, with the source's credentials: its access token, client
// credentials, or the token the shop's install stored. The client paces
// by the shop's shared budget, which the source's pulls in this process
// use too.
func (a *app) shopifyDestination(d config.DestinationConfig, src *config.SourceConfig) shopify.DestinationConfig {
	base := d.BaseURL
	if base == "" {
		base = src.BaseURL
	}
	return shopify.DestinationConfig{Name: d.Name, Source: d.Source, Push: d.Push, TagPrefix: d.TagPrefix,
		Client: shopifyClientConfig(a.store, src, base)}
}

// startDestinations adds the push stage of the configured destinations to
// st and carries out their erasure tasks in the background until ctx
// ends; wait returns once that has stopped.
func (a *app) startDestinations(ctx context.Context, st *pipeline.Stages) (wait func(), err error) {
	dests, err := a.newDestinations()
	if err != nil {
		return nil, err
	}
	pushers := make([]pipeline.Pusher, len(dests))
	erasers := map[string]privacy.Eraser{}
	for i, d := range dests {
		pushers[i] = d
		if e, ok := d.(connectors.Eraser); ok {
			erasers[d.Name()] = e
		}
		a.log.Info("pushing profiles", "destination", d.Name(), "topic", pipeline.PushTopic)
	}
	st.SetPush(pipeline.NewPush(a.store, pushers, a.log))
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.privacy().RunErasureTasksEvery(ctx, erasers, erasureEvery)
	}()
	return func() { <-done }, nil
}
