package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/handlers/httpapi"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/testenv"
)

func adminGet(t testing.TB, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestAdminProbes(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	closed, err := postgres.Connect(context.Background(), testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	closed.Close() // a database that went away: its Ping fails
	healthy := []httpapi.Check{
		{Name: "postgres", Probe: a.store.Ping},
		{Name: "jetstream", Probe: func(ctx context.Context) error { _, err := a.js.AccountInfo(ctx); return err }},
	}
	failing := append(slices.Clip(healthy), httpapi.Check{Name: "broken", Probe: closed.Ping})
	optional := append(slices.Clip(healthy), httpapi.Check{Name: "broken", Probe: closed.Ping, Optional: true})
	tests := []struct {
		name   string
		checks []httpapi.Check
		path   string
		status int
		want   map[string]string
	}{
		{"livez", nil, "/livez", 200, map[string]string{"status": "ok"}},
		{"livez while a check fails", failing, "/livez", 200, map[string]string{"status": "ok"}},
		{"readyz with passing checks", healthy, "/readyz", 200, map[string]string{"postgres": "ok", "jetstream": "ok"}},
		{"readyz with a failing check", failing, "/readyz", 503,
			map[string]string{"postgres": "ok", "jetstream": "ok", "broken": "failing"}},
		{"readyz with an optional check failing", optional, "/readyz", 200,
			map[string]string{"postgres": "ok", "jetstream": "ok", "broken": "failing"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mux := http.NewServeMux()
			httpapi.AdminRoutes(mux, prometheus.NewRegistry(), tc.checks)
			rec := adminGet(t, mux, tc.path)
			var got map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != tc.status || len(got) != len(tc.want) {
				t.Fatalf("%s = %d %v, want %d %v", tc.path, rec.Code, got, tc.status, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: %s = %q, want %q", tc.path, k, got[k], v)
				}
			}
		})
	}
}

func TestAdminMetrics(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	mux := http.NewServeMux()
	httpapi.AdminRoutes(mux, a.reg, nil)
	if body := adminGet(t, mux, "/metrics").Body.String(); strings.Contains(body, "orders_http_requests_total{") {
		t.Fatalf("requests counted before any request:\n%s", body)
	}
	a.postOrder(t, "metrics-1", validOrder)
	a.do(t, http.MethodGet, "/v1/orders/0195a0c4-6c1e-7d2a-9b7e-000000000000", "")
	a.do(t, http.MethodGet, "/nowhere", "")
	rec := adminGet(t, mux, "/metrics")
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics = %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`orders_http_requests_total{code="202",method="POST",route="POST /v1/orders"} 1`,
		`orders_http_requests_total{code="404",method="GET",route="GET /v1/orders/{id}"} 1`,
		`orders_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`orders_http_request_duration_seconds_count{method="POST",route="POST /v1/orders"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}
