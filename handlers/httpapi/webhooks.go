package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
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
			return webhook.Invalid("url", "host %s does not resolve", host)
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

// webhookError turns the webhook rules' errors into the answers writeError gives.
func webhookError(err error) error {
	var fe *webhook.FieldError
	switch {
	case errors.Is(err, webhook.ErrNotFound):
		return fmt.Errorf("%w (%w)", order.ErrNotFound, err) // the API's one 404
	case errors.As(err, &fe):
		return &statusError{status: http.StatusUnprocessableEntity, field: fe.Field, detail: fe.Detail}
	}
	return err
}
