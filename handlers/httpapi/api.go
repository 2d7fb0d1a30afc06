// Package httpapi is the HTTP adapter: the storefront and operator API (v1) and the admin
// endpoints (/livez, /readyz, /metrics).
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/domain/inventory"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/domain/readmodel"
	"github.com/shopflow/orders/events"
)

// OrderReader reads orders: one from the write side (authoritative, for commands), one from
// the read side, lists and reports. Lookups return an error wrapping order.ErrNotFound when
// absent; ListOrders returns readmodel.ErrBadCursor for a cursor it did not hand out.
type OrderReader interface {
	GetOrder(ctx context.Context, id string) (*order.Order, error)
	GetProjectedOrder(ctx context.Context, id string) (*order.Order, error)
	ListOrders(ctx context.Context, f readmodel.OrderFilter) ([]readmodel.OrderSummary, string, error)
	SalesReport(ctx context.Context, from, to time.Time) ([]readmodel.SalesRow, error)
	// OrderTraceID returns the id of the trace the order's intake continued ("" for none).
	OrderTraceID(ctx context.Context, id string) (string, error)
}

// StockStore reads and sets stock levels.
type StockStore interface {
	SetStock(ctx context.Context, sku string, onHand int64) (inventory.Stock, error)
	GetStock(ctx context.Context, sku string) (inventory.Stock, error)
}

// Intake stores accepted orders' commands, once per storefront and Idempotency-Key, and keeps
// each accepted order's command readable by order id for as long as the key (24 h; see
// broker), so an order the intake has not taken in yet reads as pending.
type Intake interface {
	// Accept returns the record that holds a's key once the command of its order is stored.
	Accept(ctx context.Context, a events.Acceptance) (events.IdempotencyRecordV1, error)
	Accepted(ctx context.Context, orderID string) (events.PlaceOrderV1, bool, error)
}

// Publisher stores commands in JetStream and returns once they are stored.
type Publisher interface {
	Publish(ctx context.Context, envs ...events.Envelope) error
}

// Deps are what the API needs; every field but Webhooks is required.
type Deps struct {
	Orders    OrderReader
	Stock     StockStore
	Intake    Intake
	Publisher Publisher
	Auth      *Authenticator
	Limiter   *RateLimiter
	Log       *slog.Logger
	Now       func() time.Time
	Webhooks  WebhookDeps // optional: without a store, no webhook routes
}

// API serves /v1. Build it with New.
type API struct{ d Deps }

// New returns the API over its dependencies.
func New(d Deps) (*API, error) {
	if d.Orders == nil || d.Stock == nil || d.Intake == nil || d.Publisher == nil || d.Auth == nil ||
		d.Limiter == nil || d.Log == nil || d.Now == nil {
		return nil, errors.New("httpapi: New needs every dependency")
	}
	return &API{d: d}, nil
}

// Route is one endpoint and the roles that may call it.
type Route struct {
	Pattern string
	Roles   []access.Role
	handle  func(http.ResponseWriter, *http.Request, access.Principal)
}

// RouteTable lists every v1 route. Each is guarded by authentication, its roles and the rate
// limit: there is no way to register an unguarded one.
func (a *API) RouteTable() []Route {
	sf, admin := access.RoleStorefront, access.RoleAdmin
	routes := []Route{
		{Pattern: "POST /v1/orders", Roles: []access.Role{sf}, handle: a.postOrder},
		{Pattern: "GET /v1/orders", Roles: []access.Role{sf, admin}, handle: a.listOrders},
		{Pattern: "GET /v1/reports/sales", Roles: []access.Role{admin}, handle: a.salesReport},
		{Pattern: "GET /v1/orders/{id}", Roles: []access.Role{sf, admin}, handle: a.getOrder},
		{Pattern: "POST /v1/orders/{id}/cancel", Roles: []access.Role{sf, admin}, handle: a.cancelOrder},
		{Pattern: "PUT /v1/inventory/{sku}", Roles: []access.Role{admin}, handle: a.putStock},
		{Pattern: "GET /v1/inventory/{sku}", Roles: []access.Role{admin}, handle: a.getStock},
	}
	return append(routes, a.webhookRoutes()...)
}

// Routes registers the v1 routes on mux, and problem+json answers for what none matches.
func (a *API) Routes(mux *http.ServeMux) {
	for _, rt := range a.RouteTable() {
		mux.Handle(rt.Pattern, a.guard(rt))
	}
	mux.Handle("GET /openapi.yaml", OpenAPIHandler()) // public: it describes, it holds no data
	handleUnmatched(mux)
}

// guard authenticates the caller (401), checks its role (403) and its rate (429) before the
// route runs.
func (a *API) guard(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.d.Auth.Authenticate(r.Context(), r.Header.Get("Authorization"))
		if err != nil {
			if errors.Is(err, access.ErrUnauthenticated) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="orders"`)
			}
			writeError(w, r, a.d.Log, err)
			return
		}
		if !allowed(p, rt.Roles) {
			writeError(w, r, a.d.Log, access.ErrForbidden)
			return
		}
		if ok, wait := a.d.Limiter.Allow(p.KeyID); !ok {
			writeError(w, r, a.d.Log, &rateLimited{wait: wait})
			return
		}
		rt.handle(w, r, p)
	})
}

func allowed(p access.Principal, roles []access.Role) bool {
	for _, role := range roles {
		if p.Allows(role) {
			return true
		}
	}
	return false
}

// rateLimited is a 429 with the wait until the key's bucket has a token again.
type rateLimited struct{ wait time.Duration }

func (e *rateLimited) Error() string { return "rate limit exceeded" }
