package webhooks

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	outcomes *prometheus.CounterVec
	latency  prometheus.Histogram
	oldest   prometheus.Gauge
	disabled prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orders_webhook_attempts_total",
			Help: "Webhook delivery attempts by outcome: delivered, retry (failed, tried again later) or failed (no retry left)."}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "orders_webhook_attempt_duration_seconds",
			Help: "Time of one webhook delivery attempt, connect to answer.", Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{Name: "orders_webhook_oldest_pending_seconds",
			Help: "Age of the oldest webhook delivery not delivered nor failed yet (0 when none)."}),
		disabled: prometheus.NewGauge(prometheus.GaugeOpts{Name: "orders_webhook_endpoints_disabled",
			Help: "Webhook endpoints disabled."}),
	}
	for _, c := range []prometheus.Collector{m.outcomes, m.latency, m.oldest, m.disabled} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register webhook metrics: %w", err)
		}
	}
	for _, o := range []string{"delivered", "retry", "failed"} {
		m.outcomes.WithLabelValues(o)
	}
	return m, nil
}
