package connectors_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/connectors"
)

func TestByName(t *testing.T) {
	type src struct{ name, secret string }
	build := func(s src) (int, error) {
		if s.secret == "" {
			return 0, errors.New("no secret")
		}
		return len(s.secret), nil
	}
	name := func(s src) string { return s.name }

	got, err := connectors.ByName("hooks", []src{{"a", "x"}, {"b", "yy"}}, name, build)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"a": 1, "b": 2}, got)

	for want, sources := range map[string][]src{
		"hooks: a source without a name": {{"a", "x"}, {"", "y"}},
		"hooks: source a given twice":    {{"a", "x"}, {"a", "y"}},
		"hooks: source b: no secret":     {{"a", "x"}, {"b", ""}},
	} {
		_, err := connectors.ByName("hooks", sources, name, build)
		require.EqualError(t, err, want)
	}
}

func TestCheckSignature(t *testing.T) {
	keys := connectors.Keys([]string{"", "old", "new"})
	require.Len(t, keys, 2, "empty secrets are no keys")
	body := []byte(`{"id":1}`)
	good := sign("new", body)
	for _, tc := range []struct {
		sig     string
		bareHex bool
		want    string
	}{
		{"sha256=" + good, false, ""},
		{"sha256=" + sign("old", body), false, ""},
		{good, true, ""},
		{good, false, "malformed signature"},
		{"", true, "no signature"},
		{"sha256=" + good[:10], true, "malformed signature"},
		{"sha256=" + strings.Repeat("zz", 32), true, "malformed signature"},
		{"sha256=" + sign("guess", body), true, "signature mismatch"},
	} {
		require.Equal(t, tc.want, connectors.CheckSignature(tc.sig, tc.bareHex, keys, body), "%q bare=%v", tc.sig, tc.bareHex)
	}
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}
