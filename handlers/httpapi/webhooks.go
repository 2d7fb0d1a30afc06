package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/domain/webhook"
)

// WebhookStore keeps webhook endpoints and their delivery logs (postgres.Store). Lookups
// return an error wrapping webhook.ErrNotFound when absent.
type WebhookStore interface {
	CreateWebhookEndpoint(ctx context.Context, e webhook.Endpoint, secret string) error
	ListWebhookEndpoints(ctx context.Context, storefront string) ([]webhook.Endpoint, error)
	GetWebhookEndpoint(ctx context.Context, id string) (webhook.Endpoint, error)
	DeleteWebhookEndpoint(ctx context.Context, id string) error
	RotateWebhookSecret(ctx context.Context, id, next string, now time.Time) error
	EnableWebhookEndpoint(ctx context.Context, id string) error
	ListWebhookDeliveries(ctx context.Context, f webhook.DeliveryFilter) ([]webhook.Delivery, string, error)
	RedeliverWebhook(ctx context.Context, endpointID, deliveryID string) error
}

// WebhookDeps are what the webhook routes need. Without a Store they are not served.
type WebhookDeps struct {
	Store  WebhookStore
	Policy webhook.Policy
	// Resolve returns the addresses of a host, each checked against the policy at
	// registration; nil means net.DefaultResolver.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
}

// webhookRoutes are the webhook routes, when the API has a webhook store.
func (a *API) webhookRoutes() []Route {
	if a.d.Webhooks.Store == nil {
		return nil
	}
	both := []access.Role{access.RoleStorefront, access.RoleAdmin}
	return []Route{
		{Pattern: "POST /v1/webhooks", Roles: both, handle: a.postWebhook},
		{Pattern: "GET /v1/webhooks", Roles: both, handle: a.listWebhooks},
		{Pattern: "DELETE /v1/webhooks/{id}", Roles: both, handle: a.deleteWebhook},
		{Pattern: "POST /v1/webhooks/{id}/rotate", Roles: both, handle: a.rotateWebhook},
		{Pattern: "POST /v1/webhooks/{id}/enable", Roles: both, handle: a.enableWebhook},
		{Pattern: "GET /v1/webhooks/{id}/deliveries", Roles: both, handle: a.listDeliveries},
		{Pattern: "POST /v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", Roles: both, handle: a.redeliver},
	}
}

// OrderDocument is the order as GET /v1/orders/{id} answers it: the data of its webhooks.
func OrderDocument(o *order.Order) ([]byte, error) {
	b, err := json.Marshal(toOrderJSON(o))
	if err != nil {
		return nil, fmt.Errorf("encode order %s: %w", o.ID(), err)
	}
	return b, nil
}

type webhookRequest struct {
	URL        string   `json:"url"`
	Events     []string `json:"events"`
	Storefront string   `json:"storefront"` // an admin's: whose endpoint it is
}

type endpointJSON struct {
	ID         string     `json:"id"`
	Storefront string     `json:"storefront"`
	URL        string     `json:"url"`
	Events     []string   `json:"events"`
	Secret     string     `json:"secret,omitempty"` // on creation and rotation only
	CreatedAt  time.Time  `json:"created_at"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
}

func toEndpointJSON(e webhook.Endpoint) endpointJSON {
	return endpointJSON{ID: e.ID, Storefront: e.Storefront, URL: e.URL, Events: append([]string{}, e.Events...),
		CreatedAt: e.CreatedAt.UTC(), DisabledAt: e.DisabledAt}
}

// postWebhook registers an endpoint and answers its secret, the only time it is shown.
func (a *API) postWebhook(w http.ResponseWriter, r *http.Request, p access.Principal) {
	var req webhookRequest
	err := decodeJSON(w, r, &req)
	var e webhook.Endpoint
	if err == nil {
		e, err = a.newEndpoint(r.Context(), p, req)
	}
	secret := ""
	if err == nil {
		secret, err = webhook.GenerateSecret()
	}
	if err == nil {
		err = a.d.Webhooks.Store.CreateWebhookEndpoint(r.Context(), e, secret)
	}
	if err != nil {
		writeError(w, r, a.d.Log, webhookError(err))
		return
	}
	out := toEndpointJSON(e)
	out.Secret = secret
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, out)
}

// newEndpoint checks a registration: whose it is, its events, its URL and where that points.
func (a *API) newEndpoint(ctx context.Context, p access.Principal, req webhookRequest) (webhook.Endpoint, error) {
	storefront := p.Storefront
	if p.Role == access.RoleAdmin {
		storefront = req.Storefront
	}
	if err := access.ValidateSpec(access.RoleStorefront, storefront); err != nil || (req.Storefront != "" && req.Storefront != storefront) {
		return webhook.Endpoint{}, &statusError{status: http.StatusUnprocessableEntity, field: "storefront",
			detail: "is required of an admin key, names a valid storefront, and is a storefront key's own"}
	}
	evs, err := webhook.ValidateEvents(req.Events)
	if err != nil {
		return webhook.Endpoint{}, err
	}
	u, err := webhook.ParseURL(req.URL, a.d.Webhooks.Policy)
	if err != nil {
		return webhook.Endpoint{}, err
	}
	if err := a.checkHost(ctx, u.Hostname()); err != nil {
		return webhook.Endpoint{}, err
	}
	return webhook.Endpoint{ID: uuid.NewString(), Storefront: storefront, URL: u.String(), Events: evs,
		CreatedAt: a.d.Now().UTC().Truncate(time.Microsecond)}, nil
}

// checkHost refuses a host with any address the policy forbids. The dispatcher checks again
// on connecting, so a name re-pointed later is refused too.
func (a *API) checkHost(ctx context.Context, host string) error {
	if a.d.Webhooks.Policy.AllowPrivate {
		return nil
	}
	addrs := []netip.Addr{}
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = append(addrs, ip)
	} else {
		resolve := a.d.Webhooks.Resolve
		if resolve == nil {
			resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
				return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			}
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if addrs, err = resolve(ctx, host); err != nil || len(addrs) == 0 {
			return fmt.Errorf("%w: url: host %s does not resolve", webhook.ErrInvalid, host)
		}
	}
	for _, ip := range addrs {
		if err := webhook.CheckAddr(ip, a.d.Webhooks.Policy); err != nil {
			return err
		}
	}
	return nil
}

// listWebhooks lists the caller's endpoints (every storefront's for an admin), never a secret.
func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request, p access.Principal) {
	es, err := a.d.Webhooks.Store.ListWebhookEndpoints(r.Context(), p.Storefront)
	if err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	out := struct {
		Webhooks []endpointJSON `json:"webhooks"`
	}{Webhooks: make([]endpointJSON, len(es))}
	for i, e := range es {
		out.Webhooks[i] = toEndpointJSON(e)
	}
	writeJSON(w, http.StatusOK, out)
}

// visibleEndpoint reads the endpoint in the path if p may see it; another storefront's is a
// 404, as one that does not exist.
func (a *API) visibleEndpoint(r *http.Request, p access.Principal) (webhook.Endpoint, error) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		return webhook.Endpoint{}, &statusError{status: http.StatusBadRequest, field: "id", detail: "must be a webhook id (UUID)"}
	}
	e, err := a.d.Webhooks.Store.GetWebhookEndpoint(r.Context(), id)
	if err == nil && !p.CanSee(e.Storefront) {
		err = fmt.Errorf("webhook endpoint %s: %w", id, webhook.ErrNotFound)
	}
	return e, webhookError(err)
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request, p access.Principal) {
	e, err := a.visibleEndpoint(r, p)
	if err == nil {
		err = webhookError(a.d.Webhooks.Store.DeleteWebhookEndpoint(r.Context(), e.ID))
	}
	if err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rotateWebhook gives the endpoint a new secret, shown once; the old one signs too for a day.
func (a *API) rotateWebhook(w http.ResponseWriter, r *http.Request, p access.Principal) {
	e, err := a.visibleEndpoint(r, p)
	secret := ""
	if err == nil {
		secret, err = webhook.GenerateSecret()
	}
	if err == nil {
		err = webhookError(a.d.Webhooks.Store.RotateWebhookSecret(r.Context(), e.ID, secret, a.d.Now()))
	}
	if err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	out := toEndpointJSON(e)
	out.Secret = secret
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

// enableWebhook enables an endpoint disabled after days of failures; what waited goes now.
func (a *API) enableWebhook(w http.ResponseWriter, r *http.Request, p access.Principal) {
	e, err := a.visibleEndpoint(r, p)
	if err == nil {
		err = webhookError(a.d.Webhooks.Store.EnableWebhookEndpoint(r.Context(), e.ID))
	}
	if err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	e.DisabledAt = nil
	writeJSON(w, http.StatusOK, toEndpointJSON(e))
}

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

// webhookError turns the webhook rules' errors into the answers writeError gives.
func webhookError(err error) error {
	var se *statusError
	switch {
	case err == nil, errors.As(err, &se):
		return err
	case errors.Is(err, webhook.ErrNotFound):
		return fmt.Errorf("%v: %w", err, order.ErrNotFound) // the API's one 404
	case errors.Is(err, webhook.ErrInvalid):
		msg := strings.TrimPrefix(err.Error(), webhook.ErrInvalid.Error()+": ")
		field, detail, _ := strings.Cut(msg, ": ")
		return &statusError{status: http.StatusUnprocessableEntity, field: field, detail: detail}
	}
	return err
}
