package api

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3 document of the REST API. It is written by
// hand, next to the route table rather than generated from it, so that
// the test comparing the two can catch a route that is missing from
// either.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3 document served at OpenAPIPath.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// serveOpenAPI serves the document to anyone: it describes the API, and
// holds no data.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPI)
}
