package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/handlers/httpapi"
)

// TestUnmatchedRequestsAnswerProblems: what no route matches gets the problem+json every other
// error gets (RFC 9457), not ServeMux's text/plain; a 405 names the allowed methods.
func TestUnmatchedRequestsAnswerProblems(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	admin := http.NewServeMux()
	httpapi.AdminRoutes(admin, prometheus.NewRegistry(), nil)
	tests := []struct {
		name         string
		h            http.Handler
		method, path string
		status       int
		allow        []string
	}{
		{"unknown path", a.handler, http.MethodGet, "/nowhere", http.StatusNotFound, nil},
		{"unknown v1 path", a.handler, http.MethodGet, "/v1/customers", http.StatusNotFound, nil},
		{"method not allowed on an order", a.handler, http.MethodDelete, "/v1/orders/0195a0c4-6c1e-7d2a-9b7e-000000000000",
			http.StatusMethodNotAllowed, []string{"GET", "HEAD"}},
		{"method not allowed on orders", a.handler, http.MethodPatch, "/v1/orders", http.StatusMethodNotAllowed, []string{"GET", "HEAD", "POST"}},
		{"admin unknown path", admin, http.MethodGet, "/nowhere", http.StatusNotFound, nil},
		{"admin method not allowed", admin, http.MethodPost, "/readyz", http.StatusMethodNotAllowed, []string{"GET", "HEAD"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(tc.h, newRequest(tc.method, tc.path, ""))
			checkProblem(t, rec, tc.status, "")
			if tc.allow == nil {
				return
			}
			got := strings.Split(rec.Header().Get("Allow"), ", ")
			slices.Sort(got)
			if !slices.Equal(got, tc.allow) {
				t.Errorf("Allow = %q, want %v", rec.Header().Get("Allow"), tc.allow)
			}
		})
	}
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
