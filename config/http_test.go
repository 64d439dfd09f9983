package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHTTPLimits checks that the REST API's page and rate limits are read
// from the file, defaulted when left out, and refused with their line
// when they make no sense.
func TestHTTPLimits(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       HTTPConfig
	}{
		{"defaults", "http: {}", HTTPConfig{PageSizeMax: 1000, RateLimit: 20, RateBurst: 40}},
		{"set", "http: {page_size_max: 250, rate_limit: 0.5, rate_burst: 3}", HTTPConfig{PageSizeMax: 250, RateLimit: 0.5, RateBurst: 3}},
		{"whole number rate", "http: {rate_limit: 100}", HTTPConfig{PageSizeMax: 1000, RateLimit: 100, RateBurst: 40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte(tt.yaml), testEnv)
			require.NoError(t, err)
			got := HTTPConfig{PageSizeMax: c.HTTP.PageSizeMax, RateLimit: c.HTTP.RateLimit, RateBurst: c.HTTP.RateBurst}
			require.Equal(t, tt.want, got)
		})
	}

	problems := []struct {
		name, yaml, path string
		line             int
	}{
		{"negative page size", "http:\n  page_size_max: -1\n", "http.page_size_max", 2},
		{"negative rate", "http:\n  rate_limit: -2\n", "http.rate_limit", 2},
		{"infinite rate", "http:\n  rate_limit: .inf\n", "http.rate_limit", 2},
		{"negative burst", "http:\n  listen: \":8080\"\n  rate_burst: -3\n", "http.rate_burst", 3},
		{"rate is not a number", "http:\n  rate_limit: fast\n", "http.rate_limit", 2},
	}
	for _, tt := range problems {
		t.Run(tt.name, func(t *testing.T) {
			ps := parseProblems(t, "c.yaml", []byte(tt.yaml))
			require.Len(t, ps, 1, ps.Error())
			require.Equal(t, tt.path, ps[0].Path)
			require.Equal(t, tt.line, ps[0].Line)
			require.NotEmpty(t, ps[0].Hint)
		})
	}
}
