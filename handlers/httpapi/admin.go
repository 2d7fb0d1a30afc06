package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness probe (PostgreSQL answers, JetStream answers).
type Check struct {
	Name  string
	Probe func(context.Context) error
	// Optional marks a dependency the process can do its job without: /readyz reports it
	// failing and stays ready.
	Optional bool
}

// AdminRoutes registers /livez, /readyz and /metrics on mux. /readyz fails while a check that
// is not optional fails, so a load balancer stops sending requests that would only get 503s,
// and keeps sending those the process can still serve.
func AdminRoutes(mux *http.ServeMux, gatherer prometheus.Gatherer, checks []Check) {
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status, results := http.StatusOK, map[string]string{}
		for _, c := range checks {
			results[c.Name] = "ok"
			if err := c.Probe(ctx); err != nil {
				results[c.Name] = "failing"
				if !c.Optional {
					status = http.StatusServiceUnavailable
				}
			}
		}
		writeJSON(w, status, results)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	handleUnmatched(mux)
}
