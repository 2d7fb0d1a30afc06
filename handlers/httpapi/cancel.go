package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

type cancelAcceptedJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"` // the status when the request was taken; GET shows the outcome
}

// cancelOrder takes a cancel request: 202 once the command is stored (also for an order
// accepted and not taken in yet), 409 when the order is settled already. The payment worker releases, voids or refunds, as the status then calls for.
func (a *API) cancelOrder(w http.ResponseWriter, r *http.Request, p access.Principal) {
	o, err := a.visibleOrder(r, p, a.d.Orders.GetOrder) // the write side decides what a command may do
	if errors.Is(err, order.ErrNotFound) {
		// Accepted and not taken in yet: the payment worker holds the command until the order
		// exists, then cancels it. (While PostgreSQL is down this stays a 503: only the write
		// side can tell a settled order, which must get its 409.)
		o, err = a.visibleOrder(r, p, a.acceptedOrder)
	}
	if err == nil && !o.Status().CanCancel() {
		err = fmt.Errorf("cancel order %s: %w (status %s)", o.ID(), order.ErrSettled, o.Status())
	}
	if err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), ingestTimeout)
	defer cancel()
	cmd, err := events.NewCancelOrder(o.ID(), "cancel_requested", correlationID(r), a.d.Now())
	if err == nil { // the same command each try: its id dedups a try that landed
		err = retryUnavailable(ctx, ingestAttempt, func(ctx context.Context) error { return a.d.Publisher.Publish(ctx, cmd) })
	}
	if err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, cancelAcceptedJSON{ID: o.ID(), Status: string(o.Status())})
}

// visibleOrder reads the order in the path if p may see it; otherwise, and for an order that
// does not exist, the error wraps order.ErrNotFound (the same 404 either way).
func (a *API) visibleOrder(r *http.Request, p access.Principal, get func(context.Context, string) (*order.Order, error)) (*order.Order, error) {
	id := r.PathValue("id")
	if !events.ValidID(id) {
		return nil, &statusError{status: http.StatusBadRequest, field: "id", detail: "must be an order id (UUID)"}
	}
	o, err := get(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if !p.CanSee(o.Storefront()) {
		return nil, fmt.Errorf("order %s: %w", id, order.ErrNotFound) // 404, not 403: no existence oracle
	}
	return o, nil
}
