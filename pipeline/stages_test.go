package pipeline_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/connectors/meta"
	"github.com/crmhub/crmhub/connectors/sample"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// sampleStages builds the map and persist stages for the sample sources.
func sampleStages(t testing.TB, s *store.Store) *pipeline.Stages {
	t.Helper()
	sources := map[string]pipeline.MapSource{}
	for name, yaml := range sample.Mappings() {
		rules, err := mapping.Parse(name+".yaml", yaml)
		require.NoError(t, err)
		sources[name] = pipeline.MapSource{Rules: rules,
			Source: identity.Source{Name: name, Type: sample.SourceTypes[name], DefaultRegion: "AE"}}
	}
	// The sample's leads are Meta's, mapped as a meta source's are.
	leads, err := meta.Mapping()
	require.NoError(t, err)
	sources[sample.SourceLeads] = pipeline.MapSource{Rules: leads,
		Source: identity.Source{Name: sample.SourceLeads, Type: meta.SourceType, DefaultRegion: "AE"}}
	cfg := identity.Config{Email: true, Phone: true, Fuzzy: []identity.FuzzyRule{
		{Fields: []string{"name", "birthday", "address", "email", "phone"}, Threshold: 0.95}}}
	return pipeline.NewStages(s, sources, identity.NewResolver(cfg), nil)
}

// clusters reads which records share a profile, as sorted lines.
func clusters(t testing.TB, s *store.Store) []string {
	t.Helper()
	rows, err := s.ReadDB().QueryContext(context.Background(), "SELECT customer_id, source, external_id FROM identities")
	require.NoError(t, err)
	defer rows.Close()
	groups := map[string][]string{}
	for rows.Next() {
		var c, src, id string
		require.NoError(t, rows.Scan(&c, &src, &id))
		groups[c] = append(groups[c], src+":"+id)
	}
	require.NoError(t, rows.Err())
	var out []string
	for _, g := range groups {
		slices.Sort(g)
		out = append(out, strings.Join(g, " "))
	}
	sort.Strings(out)
	return out
}

// runStages ingests the sample records and runs the map and persist stages
// until every record is resolved or dead-lettered.
func runStages(t *testing.T, driver string, mw []message.HandlerMiddleware) ([]string, store.Counts) {
	s := storetest.Open(t, driver)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := bus.Open(ctx, bus.Options{Driver: driver, DB: s.DB(), ReadDB: s.ReadDB(), PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	defer b.Close()
	p, err := pipeline.New(s, b, pipeline.Options{Middleware: mw})
	require.NoError(t, err)
	sampleStages(t, s).Register(p)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	envs := sample.Generate(3, 60)
	require.NoError(t, pipeline.NewIngester(s, b, true).Ingest(ctx, envs, nil))
	require.Eventually(t, func() bool {
		n, err := s.CountProcessed(ctx, pipeline.HandlerPersist)
		c, err2 := s.Counts(ctx)
		return err == nil && err2 == nil && n+c.DeadLetters >= int64(len(envs))
	}, 90*time.Second, 20*time.Millisecond)
	cancel()
	<-done
	c, err := s.Counts(context.Background())
	require.NoError(t, err)
	return clusters(t, s), c
}

// TestStagesResolveSampleSources runs the real map and persist stages over
// the bus: every person of the sample is one profile holding their shop,
// ERP and lead records, whatever the script of their name; the two
// malformed records are dead letters; running every handler twice changes
// nothing.
func TestStagesResolveSampleSources(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			got, counts := runStages(t, driver, nil)
			require.EqualValues(t, 60, counts.Customers, "one profile per person")
			require.EqualValues(t, 2, counts.DeadLetters, "the truncated ERP delivery and the empty lead")
			multi := 0
			for _, line := range got {
				if strings.Contains(line, "demo-shop:") && strings.Contains(line, "demo-erp:") {
					multi++
				}
			}
			require.GreaterOrEqual(t, multi, 25, "shop and ERP records of the same people share profiles")
			twice, _ := runStages(t, driver, []message.HandlerMiddleware{middleware.Duplicator})
			require.Equal(t, got, twice, "every handler twice gives the same profiles")
		})
	}
}
