package api_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/api"
)

// openAPIDoc is the part of an OpenAPI 3 document the tests read.
type openAPIDoc struct {
	OpenAPI    string                          `json:"openapi"`
	Paths      map[string]map[string]openAPIOp `json:"paths"`
	Components struct {
		Parameters map[string]openAPIParam `json:"parameters"`
	} `json:"components"`
}

type openAPIOp struct {
	Scope      string                     `json:"x-crmhub-scope"`
	Parameters []openAPIParam             `json:"parameters"`
	Responses  map[string]json.RawMessage `json:"responses"`
}

type openAPIParam struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

func parseOpenAPI(t *testing.T, b []byte) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	require.NoError(t, json.Unmarshal(b, &doc))
	return doc
}

// documentedOperations lists the operations of the document with the
// scope each says it needs.
func documentedOperations(t *testing.T, b []byte) map[operation]string {
	t.Helper()
	out := map[operation]string{}
	for path, ops := range parseOpenAPI(t, b).Paths {
		for method, op := range ops {
			out[operation{strings.ToUpper(method), path}] = op.Scope
		}
	}
	return out
}

// params returns the names of an operation's parameters that are in in,
// references resolved.
func (d openAPIDoc) params(op openAPIOp, in string) []string {
	var names []string
	for _, p := range op.Parameters {
		if ref, ok := strings.CutPrefix(p.Ref, "#/components/parameters/"); ok {
			p = d.Components.Parameters[ref]
		}
		if p.In == in {
			names = append(names, p.Name)
		}
	}
	slices.Sort(names)
	return names
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

func TestOpenAPIIsServedWithoutToken(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, http.MethodGet, api.OpenAPIPath, "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.Equal(t, api.OpenAPI(), body)
	require.True(t, strings.HasPrefix(parseOpenAPI(t, body).OpenAPI, "3."), "an OpenAPI 3 document")

	resp, body = f.do(t, http.MethodPost, api.OpenAPIPath, "", nil)
	requireError(t, resp, body, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed)
}

// TestOpenAPIMatchesRoutes checks the hand-written document against the
// route table, both ways: every route is documented with its scope and
// parameters, and every documented operation is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t)
	doc := parseOpenAPI(t, api.OpenAPI())
	routes := map[operation]api.Route{}
	for _, rt := range f.rest.Routes() {
		routes[operation{rt.Method, rt.Pattern}] = rt
	}
	for op := range documentedOperations(t, api.OpenAPI()) {
		require.Contains(t, routes, op, "%s %s is documented but no route serves it", op.method, op.path)
	}
	for op, rt := range routes {
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			dop, ok := doc.Paths[op.path][strings.ToLower(op.method)]
			require.True(t, ok, "route %s %s is not documented", op.method, op.path)
			require.Equal(t, rt.Scope, dop.Scope, "documented scope (x-crmhub-scope)")

			query := slices.Sorted(slices.Values(rt.Query))
			require.Equal(t, query, doc.params(dop, "query"), "documented query parameters")
			var inPath []string
			for _, m := range pathParam.FindAllStringSubmatch(op.path, -1) {
				inPath = append(inPath, m[1])
			}
			slices.Sort(inPath)
			require.Equal(t, inPath, doc.params(dop, "path"), "documented path parameters")

			for _, status := range []string{"401", "403", "429"} {
				require.Contains(t, dop.Responses, status, "every route documents its %s", status)
			}
		})
	}
}

// TestOpenAPIReferencesResolve checks that every $ref of the document
// names something the document defines.
func TestOpenAPIReferencesResolve(t *testing.T) {
	var doc any
	require.NoError(t, json.Unmarshal(api.OpenAPI(), &doc))
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" {
					refs = append(refs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	require.NotEmpty(t, refs)
	for _, ref := range refs {
		path, ok := strings.CutPrefix(ref, "#/")
		require.True(t, ok, "%s: only local references", ref)
		var at any = doc
		for _, part := range strings.Split(path, "/") {
			m, ok := at.(map[string]any)
			require.True(t, ok, "%s: %s is not an object", ref, part)
			at, ok = m[part]
			require.True(t, ok, "%s: %s is not defined", ref, part)
		}
	}
}
