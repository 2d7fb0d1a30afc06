package testenv

import (
	"context"
	"log/slog"
	mathrand "math/rand/v2"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/gateway/simulated"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/saga"
)

// SagaWorld is the saga's use cases over a database of their own and the simulated gateway,
// with 10 units of SKU-1 in stock.
type SagaWorld struct {
	Pool  *pgxpool.Pool
	Store *postgres.Store
	GW    *simulated.Gateway
	Saga  *saga.Service
	Reg   *prometheus.Registry // the use cases' metrics
	// Clock is the use cases' clock, and the time orders are placed at; nil means time.Now.
	Clock func() time.Time
}

func (w *SagaWorld) now() time.Time {
	if w.Clock == nil {
		return time.Now()
	}
	return w.Clock()
}

// NewSagaWorld returns a world whose gateway is configured by gwCfg.
func NewSagaWorld(t *testing.T, gwCfg simulated.Config) *SagaWorld {
	t.Helper()
	w := &SagaWorld{Pool: Pool(t)}
	var err error
	if w.Store, err = postgres.NewStore(w.Pool, postgres.GroupConfig{}); err != nil {
		t.Fatal(err)
	}
	w.GW = w.Gateway(t, gwCfg)
	w.Saga = w.Over(t, w.Store, w.GW)
	if _, err := w.Store.SetStock(context.Background(), "SKU-1", 10); err != nil {
		t.Fatal(err)
	}
	return w
}

// Gateway returns another simulated gateway over the world's database.
func (w *SagaWorld) Gateway(t *testing.T, cfg simulated.Config) *simulated.Gateway {
	t.Helper()
	gw, err := simulated.New(w.Pool, cfg, mathrand.New(mathrand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

// Over returns use cases over store and gw, with opts; their metrics replace Reg.
func (w *SagaWorld) Over(t *testing.T, store saga.Store, gw payment.Gateway, opts ...saga.Option) *saga.Service {
	t.Helper()
	w.Reg = prometheus.NewRegistry()
	stats, err := saga.NewStats(w.Reg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := saga.New(store, gw, slog.New(slog.DiscardHandler), stats, w.now, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Place takes an order of 3 units of SKU-1 in, as the inventory worker does: it is reserved.
func (w *SagaWorld) Place(t *testing.T, id, token string) {
	t.Helper()
	p := order.PlaceParams{ID: id, Storefront: "s", CustomerID: "c", Currency: "EUR", PaymentToken: token,
		Lines: []order.Line{{SKU: "SKU-1", Quantity: 3, UnitPrice: 500}}, AcceptedAt: w.now()}
	status, _, err := PlaceAt(context.Background(), w.Store, events.ConsumerInventoryPlaceOrder, p, "corr", w.now())
	if err != nil || status != order.StatusReserved {
		t.Fatalf("place %s: %s %v", id, status, err)
	}
}

// Event returns the outbox's envelope of the named event of an order, as a delivered message.
func (w *SagaWorld) Event(t *testing.T, id, name string) *message.Message {
	t.Helper()
	var e events.Envelope
	err := w.Pool.QueryRow(context.Background(), `SELECT message_id, subject, name, order_id::text, correlation_id, occurred_at, payload
		FROM outbox WHERE order_id = $1 AND name = $2`, id, name).Scan(&e.ID, &e.Subject, &e.Name, &e.OrderID, &e.CorrelationID, &e.OccurredAt, &e.Payload)
	if err != nil {
		t.Fatalf("outbox %s %s: %v", id, name, err)
	}
	return ToMessage(e)
}

// ToMessage returns e as a delivered watermill message.
func ToMessage(e events.Envelope) *message.Message {
	m := message.NewMessage(e.ID, e.Payload)
	for k, v := range e.Metadata() {
		m.Metadata.Set(k, v)
	}
	return m
}

// OrderState is an order's status and last reason, SKU-1's stock, and how many operations of
// each kind the gateway approved for the order.
type OrderState struct {
	Status, Reason   string
	OnHand, Reserved int
	Ops              map[string]int
}

// State reads the state of order id.
func (w *SagaWorld) State(t *testing.T, id string) OrderState {
	t.Helper()
	ctx := context.Background()
	var s OrderState
	err := w.Pool.QueryRow(ctx, `SELECT o.status, h.reason, s.on_hand, s.reserved FROM orders o
		JOIN order_history h ON h.order_id = o.id AND h.version = o.version, stock s WHERE o.id = $1 AND s.sku = 'SKU-1'`, id).
		Scan(&s.Status, &s.Reason, &s.OnHand, &s.Reserved)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := w.Pool.Query(ctx, `SELECT operation, count(*) FROM gateway_sim_operations WHERE order_id = $1 AND outcome = 'approved' GROUP BY operation`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	s.Ops = map[string]int{}
	for rows.Next() {
		var op string
		var n int
		if err := rows.Scan(&op, &n); err != nil {
			t.Fatal(err)
		}
		s.Ops[op] = n
	}
	return s
}

// Must fails the test on err.
func Must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// RefusingGateway is a gateway whose compensations (Find, Abandon, Void, Refund) and captures fail with
// Err, an error of no kind the saga knows (neither a decline nor transient): a compensation
// that cannot succeed until an operator acts. Authorize goes through to the gateway it wraps.
type RefusingGateway struct {
	payment.Gateway
	Err error
}

// Find fails with g.Err.
func (g RefusingGateway) Find(context.Context, string, string) (payment.Authorization, error) {
	return payment.Authorization{}, g.Err
}

// Abandon fails with g.Err.
func (g RefusingGateway) Abandon(context.Context, payment.AuthorizeRequest) (payment.Authorization, error) {
	return payment.Authorization{}, g.Err
}

// Capture fails with g.Err.
func (g RefusingGateway) Capture(context.Context, string, payment.Authorization) error { return g.Err }

// Void fails with g.Err.
func (g RefusingGateway) Void(context.Context, string, payment.Authorization) error { return g.Err }

// Refund fails with g.Err.
func (g RefusingGateway) Refund(context.Context, string, payment.Authorization) error { return g.Err }
