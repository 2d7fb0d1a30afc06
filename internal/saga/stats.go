package saga

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/internal/telemetry"
)

// Stats records the business metrics of orders: status transitions, time from the 202 to each
// status, rejections by reason, revenue, payment declines. Every use case of a process shares
// one Stats.
type Stats struct {
	transitions *prometheus.CounterVec
	rejections  *prometheus.CounterVec
	timeTo      *prometheus.HistogramVec
	revenue     *prometheus.CounterVec
	refunded    *prometheus.CounterVec
	declines    *prometheus.CounterVec
	duplicates  *prometheus.CounterVec
}

// NewStats registers the metrics on reg.
func NewStats(reg prometheus.Registerer) (*Stats, error) {
	s := &Stats{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_order_transitions_total", Help: "Order status transitions, by the status reached.",
		}, []string{"status"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_order_rejections_total", Help: "Orders rejected at intake, by reason (out_of_stock is a stock-out).",
		}, []string{"reason"}),
		timeTo: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orders_order_time_to_status_seconds", Help: "Time from the 202 to each status an order reaches.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900},
		}, []string{"status"}),
		revenue: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_revenue_minor_units_total", Help: "Captured order value, in the currency's minor unit.",
		}, []string{"currency"}),
		refunded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_refunded_minor_units_total", Help: "Refunded order value, in the currency's minor unit.",
		}, []string{"currency"}),
		declines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_payment_declines_total", Help: "Payments the gateway declined, by stage (authorize, capture).",
		}, []string{"stage"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_duplicate_messages_total", Help: "Messages delivered again and acknowledged without effect, by consumer.",
		}, []string{"consumer"}),
	}
	for _, c := range []prometheus.Collector{s.transitions, s.rejections, s.timeTo, s.revenue, s.refunded, s.declines, s.duplicates} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register order metrics: %w", err)
		}
	}
	return s, nil
}

// Changes records the transitions o made after version before (committed by the caller); an
// order just taken in has version 0 before.
func (s *Stats) Changes(ctx context.Context, o *order.Order, before int) {
	for _, c := range o.History() {
		if c.Version > before {
			s.record(ctx, c, o.AcceptedAt(), o.Currency(), o.Total())
		}
	}
}

func (s *Stats) record(ctx context.Context, c order.Change, acceptedAt time.Time, currency string, total int64) {
	s.transitions.WithLabelValues(string(c.Status)).Inc()
	if c.Status == order.StatusPending {
		return // reached at the 202 itself: no time to it
	}
	telemetry.Observe(ctx, s.timeTo.WithLabelValues(string(c.Status)), c.At.Sub(acceptedAt).Seconds())
	switch c.Status {
	case order.StatusRejected:
		kind, _, _ := strings.Cut(c.Reason, ":") // "out_of_stock: SKU-1" → out_of_stock; SKUs stay out of labels
		s.rejections.WithLabelValues(kind).Inc()
	case order.StatusConfirmed:
		s.revenue.WithLabelValues(currency).Add(float64(total))
	case order.StatusRefunded:
		s.refunded.WithLabelValues(currency).Add(float64(total))
	case order.StatusCancelled:
		// Counted from the committed change, not when the gateway answered: a step whose
		// transaction is retried would count its decline again.
		if op, ok := payment.DeclinedAt(c.Reason); ok {
			s.declines.WithLabelValues(string(op)).Inc()
		}
	}
}

// Duplicate counts a redelivered message acknowledged without effect.
func (s *Stats) Duplicate(consumer string) { s.duplicates.WithLabelValues(consumer).Inc() }
