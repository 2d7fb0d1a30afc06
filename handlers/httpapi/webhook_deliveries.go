package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/domain/webhook"
)

type attemptJSON struct {
	At         time.Time `json:"at"`
	DurationMS int64     `json:"duration_ms"`
	HTTPStatus int       `json:"http_status,omitempty"`
	Error      string    `json:"error,omitempty"`
}

type deliveryJSON struct {
	ID            string        `json:"id"`
	OrderID       string        `json:"order_id"`
	Type          string        `json:"type"`
	Version       int           `json:"version"`
	Status        string        `json:"status"`
	CreatedAt     time.Time     `json:"created_at"`
	NextAttemptAt *time.Time    `json:"next_attempt_at,omitempty"`
	Attempts      []attemptJSON `json:"attempts"`
}

// listDeliveries pages through an endpoint's delivery log, newest first, with the attempts.
func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request, p access.Principal) {
	e, err := a.visibleEndpoint(r, p)
	var f webhook.DeliveryFilter
	if err == nil {
		f, err = deliveryFilter(r, e.ID)
	}
	var page []webhook.Delivery
	next := ""
	if err == nil {
		page, next, err = a.d.Webhooks.Store.ListWebhookDeliveries(r.Context(), f)
	}
	if err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	out := struct {
		Deliveries []deliveryJSON `json:"deliveries"`
		NextCursor string         `json:"next_cursor,omitempty"`
	}{Deliveries: make([]deliveryJSON, len(page)), NextCursor: next}
	for i, d := range page {
		out.Deliveries[i] = toDeliveryJSON(d)
	}
	writeJSON(w, http.StatusOK, out)
}

func deliveryFilter(r *http.Request, endpointID string) (webhook.DeliveryFilter, error) {
	q := r.URL.Query()
	f := webhook.DeliveryFilter{EndpointID: endpointID, Status: webhook.Status(q.Get("status")), Limit: defaultPageSize}
	switch f.Status {
	case "", webhook.StatusPending, webhook.StatusDelivered, webhook.StatusFailed:
	default:
		return f, &statusError{status: http.StatusBadRequest, field: "status", detail: "must be pending, delivered or failed"}
	}
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 1 {
			return f, &statusError{status: http.StatusBadRequest, field: "cursor", detail: "must be a next_cursor this API gave"}
		}
		f.After = n
	}
	return f, nil
}

func toDeliveryJSON(d webhook.Delivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, OrderID: d.OrderID, Type: d.Type, Version: d.Version, Status: string(d.Status),
		CreatedAt: d.CreatedAt.UTC(), NextAttemptAt: d.NextAttemptAt, Attempts: make([]attemptJSON, len(d.Attempts))}
	for i, at := range d.Attempts {
		out.Attempts[i] = attemptJSON{At: at.At.UTC(), DurationMS: at.Duration.Milliseconds(), HTTPStatus: at.HTTPStatus, Error: at.Error}
	}
	return out
}

// redeliver makes a delivery due again now, with a fresh schedule; 202: the dispatcher sends it.
func (a *API) redeliver(w http.ResponseWriter, r *http.Request, p access.Principal) {
	e, err := a.visibleEndpoint(r, p)
	id := r.PathValue("delivery_id")
	if err == nil && (!strings.HasPrefix(id, "msg_") || len(id) > 64) {
		err = &statusError{status: http.StatusBadRequest, field: "delivery_id", detail: "must be a delivery id (msg_…)"}
	}
	if err == nil {
		err = webhookError(a.d.Webhooks.Store.RedeliverWebhook(r.Context(), e.ID, id))
	}
	if err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}{ID: id, Status: string(webhook.StatusPending)})
}
