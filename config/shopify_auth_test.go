package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestShopifyAuth(t *testing.T) {
	for _, tc := range []struct {
		name      string
		edit      func(s *SourceConfig)
		publicURL string
		want      []string
	}{
		{"an access token", func(s *SourceConfig) { s.AccessToken = "t" }, "", nil},
		{"client credentials", func(s *SourceConfig) { s.ClientID, s.ClientSecret = "id", "secret" }, "", nil},
		{"client credentials named", func(s *SourceConfig) {
			s.Auth, s.ClientID, s.ClientSecret = "client_credentials", "id", "secret"
		}, "", nil},
		{"named the other way", func(s *SourceConfig) { s.Auth, s.AccessToken = "client_credentials", "t" }, "",
			[]string{"sources[0].auth: auth is client_credentials but the source has the other credentials"}},
		{"install", func(s *SourceConfig) {
			s.Auth, s.ClientID, s.ClientSecret, s.Scopes = "install", "id", "secret", []string{"read_customers", "read_all_orders"}
		}, "https://crm.example.com", nil},
		{"install without a public URL", func(s *SourceConfig) { s.Auth, s.ClientID, s.ClientSecret = "install", "id", "secret" }, "",
			[]string{"sources[0].auth: auth: install needs http.public_url"}},
		{"install without the app", func(s *SourceConfig) { s.Auth = "install" }, "https://crm.example.com",
			[]string{"sources[0].client_id: client_id is required with auth: install", "sources[0].client_secret: client_secret is required"}},
		{"install with a token", func(s *SourceConfig) {
			s.Auth, s.ClientID, s.ClientSecret, s.AccessToken = "install", "id", "secret", "t"
		},
			"https://crm.example.com", []string{"sources[0].access_token: auth: install gets its token from the install"}},
		{"a bad scope", func(s *SourceConfig) {
			s.Auth, s.ClientID, s.ClientSecret, s.Scopes = "install", "id", "secret", []string{"read_customers,read_orders"}
		},
			"https://crm.example.com", []string{`sources[0].scopes[0]: "read_customers,read_orders" is not an access scope`}},
		{"scopes without install", func(s *SourceConfig) { s.AccessToken, s.Scopes = "t", []string{"read_orders"} }, "",
			[]string{"sources[0].scopes: scopes apply to auth: install only"}},
		{"an unknown auth", func(s *SourceConfig) { s.Auth, s.AccessToken = "password", "t" }, "",
			[]string{`sources[0].auth: unknown auth "password"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{HTTP: HTTPConfig{PublicURL: tc.publicURL},
				Sources: []SourceConfig{{Name: "shop", Type: "shopify", Shop: "a.myshopify.com"}}}
			tc.edit(&c.Sources[0])
			c.ApplyDefaults()
			err := c.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			var ps Problems
			require.True(t, errors.As(err, &ps), "%v", err)
			require.Len(t, ps, len(tc.want), "%v", err)
			for i, w := range tc.want {
				require.True(t, strings.HasPrefix(ps[i].Error(), w), "%q does not start with %q", ps[i].Error(), w)
			}
		})
	}
}
