package sample_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/connectors/sample"
	"github.com/crmhub/crmhub/mapping"
)

func TestGenerateIsReproducible(t *testing.T) {
	a, b := sample.Generate(7, 40), sample.Generate(7, 40)
	require.Equal(t, a, b)
	c := sample.Generate(8, 40)
	require.NotEqual(t, a, c, "another seed gives other records")
}

func TestGenerateShapes(t *testing.T) {
	recs := sample.Generate(1, 30)
	bySource := map[string]int{}
	keys := map[string]bool{}
	var malformed int
	var easternDigits, persianDigits bool
	for _, r := range recs {
		require.NoError(t, r.Validate())
		require.False(t, keys[r.IdempotencyKey], "records are distinct")
		keys[r.IdempotencyKey] = true
		bySource[r.Source]++
		if !json.Valid(r.Payload) {
			malformed++
			continue
		}
		easternDigits = easternDigits || bytes.ContainsRune(r.Payload, '٠')
		persianDigits = persianDigits || bytes.ContainsRune(r.Payload, '۰')
	}
	require.Equal(t, 30, bySource[sample.SourceShop])
	require.Equal(t, 16, bySource[sample.SourceERP], "every second person plus one broken record")
	require.Equal(t, 1, malformed)
	require.True(t, easternDigits, "some phones are written in Eastern Arabic digits")
	require.True(t, persianDigits, "some phones are written in Persian digits")

	// Shopify ids exceed 2^53 and must survive as exact integers.
	var shop struct {
		ID json.Number `json:"id"`
	}
	d := json.NewDecoder(bytes.NewReader(recs[0].Payload))
	d.UseNumber()
	require.NoError(t, d.Decode(&shop))
	require.Equal(t, recs[0].ExternalID, shop.ID.String())
	require.Greater(t, len(shop.ID.String()), 16)
}

func TestMappingsMapEverySampleRecord(t *testing.T) {
	rules := map[string]*mapping.Rules{}
	for name, yaml := range sample.Mappings() {
		r, err := mapping.Parse(name+".yaml", yaml)
		require.NoError(t, err, name)
		rules[name] = r
	}
	require.Len(t, rules, len(sample.SourceTypes))
	mapped := 0
	for _, e := range sample.Generate(1, 40) {
		rec, err := mapping.JSONRecord(e.Payload)
		if err != nil {
			continue // the truncated ERP delivery
		}
		m, err := rules[e.Source].Apply(rec, mapping.Options{DefaultRegion: "AE"})
		if e.ExternalID == "1296999999999999" {
			continue
		}
		require.NoError(t, err, e.Source)
		require.Equal(t, e.ExternalID, m.ExternalID, e.Source)
		mapped++
	}
	require.Greater(t, mapped, 60)
}
