package meta

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGraphErrorKinds: the Graph API's error answers are told apart by
// what cures them: waiting (rate limits, outages), nothing (a lead that
// is gone), or an operator (a refused token, a missing permission).
func TestGraphErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		status    int
		body      string
		gone      bool
		transient bool
		says      string
	}{
		{400, `{"error":{"message":"Unsupported get request. Object with ID '1' does not exist","type":"GraphMethodException","code":100,"error_subcode":33,"fbtrace_id":"A1"}}`, true, false, "code 100 (subcode 33)"},
		{403, `{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4}}`, false, true, "code 4"},
		{400, `{"error":{"message":"(#17) User request limit reached","code":17}}`, false, true, "code 17"},
		{400, `{"error":{"message":"(#32) Page request limit reached","code":32}}`, false, true, "code 32"},
		{400, `{"error":{"message":"(#80001) There have been too many calls to this Page account","code":80001}}`, false, true, "code 80001"},
		{500, `{"error":{"message":"An unknown error occurred","code":1}}`, false, true, "code 1"},
		{502, `<html>Bad Gateway</html>`, false, true, "answered 502"},
		{429, ``, false, true, "answered 429"},
		{400, `{"error":{"message":"Error validating access token","type":"OAuthException","code":190,"error_subcode":463}}`, false, false, "valid page access token"},
		{403, `{"error":{"message":"(#200) Requires leads_retrieval permission","code":200}}`, false, false, "grant leads_retrieval"},
		{500, `{"error":{"message":"` + strings.Repeat("é", 400) + `","code":2}}`, false, true, "…"},
	} {
		e := graphError(tc.status, []byte(tc.body))
		require.Equal(t, tc.gone, e.Gone(), tc.body)
		require.Equal(t, tc.transient, e.Transient(), tc.body)
		require.Contains(t, e.Error(), tc.says)
		require.True(t, strings.ToValidUTF8(e.Error(), "?") == e.Error(), "the message is cut on a rune")
	}
	require.Equal(t, http.StatusBadRequest, graphError(400, nil).Status)
}

func TestClientRefusesWhatIsNotAnID(t *testing.T) {
	c, err := NewClient(ClientConfig{AccessToken: "t", BaseURL: "http://127.0.0.1:1"})
	require.NoError(t, err)
	_, err = c.Lead(t.Context(), "../me/accounts")
	var ge *GraphError
	require.ErrorAs(t, err, &ge)
	require.True(t, ge.Gone(), "a malformed id is never read, and never will be")

	_, err = NewClient(ClientConfig{})
	require.Error(t, err)
	_, err = NewClient(ClientConfig{AccessToken: "t", APIVersion: "21"})
	require.Error(t, err)
	_, err = NewClient(ClientConfig{AccessToken: "t", BaseURL: "graph.facebook.com"})
	require.Error(t, err)
}
