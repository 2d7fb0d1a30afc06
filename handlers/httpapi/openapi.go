package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is the OpenAPI 3.1 description of every route this package serves;
// openapi_test.go validates the API's real answers against it.
//
//go:embed openapi.yaml
var openAPIDocument []byte

// OpenAPIHandler serves the OpenAPI document (GET /openapi.yaml). It needs no API key: the
// document holds nothing a client may not know.
func OpenAPIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(openAPIDocument) // the client may be gone; nothing left to tell it
	})
}
