// Package reporting holds the reporting worker: it keeps the read-side projections (order
// summaries, sales per day and SKU, stock as the events tell it, counts per status) up to
// date with the event store.
package reporting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/events"
)

// Projector brings one order's projections up to date with the event store, in version order;
// it returns how many events it applied (0 for a late, duplicated or already applied event).
type Projector interface {
	ProjectOrder(ctx context.Context, orderID string, version int) (int, error)
}

// Handler handles every order event.
type Handler struct {
	p       Projector
	log     *slog.Logger
	applied prometheus.Counter
	stale   prometheus.Counter
}

// NewHandler returns the handler and registers its metrics on reg.
func NewHandler(p Projector, log *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	if p == nil || log == nil || reg == nil {
		return nil, errors.New("reporting: NewHandler needs a projector, a logger and a registerer")
	}
	h := &Handler{p: p, log: log,
		applied: prometheus.NewCounter(prometheus.CounterOpts{Name: "orders_projection_events_applied_total",
			Help: "Events applied to the read-side projections."}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{Name: "orders_projection_events_skipped_total",
			Help: "Event messages that found their events applied already (late, duplicated or caught up by an earlier one)."}),
	}
	for _, c := range []prometheus.Collector{h.applied, h.stale} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register reporting metrics: %w", err)
		}
	}
	return h, nil
}

// Event applies what the event store holds for the message's order. The message says which
// order changed; the event store says how, in order.
func (h *Handler) Event(msg *message.Message) error {
	env, err := events.ParseEnvelope(msg.UUID, msg.Metadata, msg.Payload)
	if err != nil {
		return fault.Permanent(err)
	}
	version, _ := events.DecodeEventVersion(env) // 0 when unreadable: the projector checks the event store anyway
	n, err := h.p.ProjectOrder(msg.Context(), env.OrderID, version)
	if err != nil {
		return err
	}
	if n == 0 {
		h.stale.Inc()
	}
	h.applied.Add(float64(n))
	return nil
}
