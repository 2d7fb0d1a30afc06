package payment_test

import (
	"context"
	"errors"
	"log/slog"
	mathrand "math/rand/v2"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/domain/order"
	domainpayment "github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/handlers/orderstats"
	"github.com/shopflow/orders/handlers/payment"
	"github.com/shopflow/orders/internal/gateway/simulated"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/testenv"
)

// world is one payment worker over real PostgreSQL and the simulated gateway.
type world struct {
	pool  *pgxpool.Pool
	store *postgres.Store
	gw    *simulated.Gateway
	h     *payment.Handler
	reg   *prometheus.Registry // the handler's metrics
	final bool                 // what the handler is told about the delivery being the last
}

func newWorld(t *testing.T, gwCfg simulated.Config) *world {
	t.Helper()
	w := &world{pool: testenv.Pool(t)}
	var err error
	if w.store, err = postgres.NewStore(w.pool, time.Now); err != nil {
		t.Fatal(err)
	}
	w.gw = newGateway(t, w.pool, gwCfg)
	w.h = newHandler(t, w, w.gw)
	if _, err := w.store.SetStock(context.Background(), "SKU-1", 10); err != nil {
		t.Fatal(err)
	}
	return w
}

func newGateway(t *testing.T, pool *pgxpool.Pool, cfg simulated.Config) *simulated.Gateway {
	t.Helper()
	gw, err := simulated.New(pool, cfg, mathrand.New(mathrand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

func newHandler(t *testing.T, w *world, gw domainpayment.Gateway) *payment.Handler {
	t.Helper()
	return newHandlerOver(t, w, w.store, gw)
}

func newHandlerOver(t *testing.T, w *world, store payment.Store, gw domainpayment.Gateway) *payment.Handler {
	t.Helper()
	w.reg = prometheus.NewRegistry()
	stats, err := orderstats.New(w.reg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := payment.NewHandler(store, gw, slog.New(slog.DiscardHandler), stats, time.Now,
		func(context.Context) bool { return w.final })
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// place takes an order of 3 units of SKU-1 in, as the inventory worker does: it is reserved.
func (w *world) place(t *testing.T, id, token string) {
	t.Helper()
	p := order.PlaceParams{ID: id, Storefront: "s", CustomerID: "c", Currency: "EUR", PaymentToken: token,
		Lines: []order.Line{{SKU: "SKU-1", Quantity: 3, UnitPrice: 500}}, AcceptedAt: time.Now()}
	last, _, err := w.store.PlaceOrder(context.Background(), events.ConsumerInventoryPlaceOrder, events.MessageID(id, events.NamePlaceOrder, 0), p, "corr")
	if err != nil || last.Status != order.StatusReserved {
		t.Fatalf("place %s: %s %v", id, last.Status, err)
	}
}

// event returns the outbox's envelope of the named event of an order, as a delivered message.
func (w *world) event(t *testing.T, id, name string) *message.Message {
	t.Helper()
	var e events.Envelope
	err := w.pool.QueryRow(context.Background(), `SELECT message_id, subject, name, order_id::text, correlation_id, occurred_at, payload
		FROM outbox WHERE order_id = $1 AND name = $2`, id, name).Scan(&e.ID, &e.Subject, &e.Name, &e.OrderID, &e.CorrelationID, &e.OccurredAt, &e.Payload)
	if err != nil {
		t.Fatalf("outbox %s %s: %v", id, name, err)
	}
	return toMessage(e)
}

func toMessage(e events.Envelope) *message.Message {
	m := message.NewMessage(e.ID, e.Payload)
	for k, v := range e.Metadata() {
		m.Metadata.Set(k, v)
	}
	return m
}

func cancelMsg(t *testing.T, id string) *message.Message {
	t.Helper()
	env, err := events.NewCancelOrder(id, "cancel_requested", "corr", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return toMessage(env)
}

// state reads an order's status and last reason, SKU-1's stock and the approved gateway
// operations of the order.
func (w *world) state(t *testing.T, id string) (status, reason string, onHand, reserved int, ops map[string]int) {
	t.Helper()
	ctx := context.Background()
	err := w.pool.QueryRow(ctx, `SELECT o.status, h.reason, s.on_hand, s.reserved FROM orders o
		JOIN order_history h ON h.order_id = o.id AND h.version = o.version, stock s WHERE o.id = $1 AND s.sku = 'SKU-1'`, id).
		Scan(&status, &reason, &onHand, &reserved)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := w.pool.Query(ctx, `SELECT operation, count(*) FROM gateway_sim_operations WHERE order_id = $1 AND outcome = 'approved' GROUP BY operation`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ops = map[string]int{}
	for rows.Next() {
		var op string
		var n int
		if err := rows.Scan(&op, &n); err != nil {
			t.Fatal(err)
		}
		ops[op] = n
	}
	return status, reason, onHand, reserved, ops
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPaymentPaths(t *testing.T) {
	t.Parallel()
	w := newWorld(t, simulated.Config{})
	const approved, declined, flaky = "0195a0c4-6c1e-7d2a-9b7e-00000000a001", "0195a0c4-6c1e-7d2a-9b7e-00000000a002", "0195a0c4-6c1e-7d2a-9b7e-00000000a003"

	w.place(t, approved, "tok_visa")
	must(t, w.h.StockReserved(w.event(t, approved, events.NameStockReserved)))
	must(t, w.h.PaymentAuthorized(w.event(t, approved, events.NamePaymentAuthorized)))
	if st, _, onHand, reserved, ops := w.state(t, approved); st != "confirmed" || onHand != 7 || reserved != 0 || ops["capture"] != 1 {
		t.Errorf("approved: %s on_hand %d reserved %d ops %v; want confirmed, 7, 0, one capture", st, onHand, reserved, ops)
	}
	must(t, w.h.StockReserved(w.event(t, approved, events.NameStockReserved))) // redelivered: acknowledged, no effect
	if _, _, _, _, ops := w.state(t, approved); ops["authorize"] != 1 || ops["capture"] != 1 {
		t.Errorf("redelivery changed the gateway's record: %v", ops)
	}

	w.place(t, declined, "tok_chargeDeclined")
	must(t, w.h.StockReserved(w.event(t, declined, events.NameStockReserved)))
	if st, reason, onHand, reserved, _ := w.state(t, declined); st != "cancelled" || reason != "payment_declined: card_declined" || onHand != 7 || reserved != 0 {
		t.Errorf("declined: %s %q on_hand %d reserved %d; want cancelled with the reason, its stock released", st, reason, onHand, reserved)
	}
	must(t, w.h.StockReserved(w.event(t, declined, events.NameStockReserved))) // redelivered
	if n := testenv.Counter(t, w.reg, "orders_payment_declines_total", "stage", "authorize"); n != 1 {
		t.Errorf("orders_payment_declines_total{stage=authorize} = %v after one decline and its redelivery, want 1", n)
	}

	w.place(t, flaky, "tok_chargeDeclinedProcessingError")
	msg := w.event(t, flaky, events.NameStockReserved)
	for i := 0; ; i++ { // fails transiently twice, then approves: the router retries it so
		err := w.h.StockReserved(msg)
		if err == nil {
			break
		}
		if !errors.Is(err, domainpayment.ErrTransient) || fault.IsPermanent(err) || i > 5 {
			t.Fatalf("attempt %d: %v; want a retryable transient error", i, err)
		}
	}
	if st, _, _, _, ops := w.state(t, flaky); st != "authorized" || ops["authorize"] != 1 {
		t.Errorf("flaky: %s %v; want authorized once", st, ops)
	}
}

func TestCancelPaths(t *testing.T) {
	t.Parallel()
	w := newWorld(t, simulated.Config{})
	const reservedID, authorizedID, confirmedID = "0195a0c4-6c1e-7d2a-9b7e-00000000b001", "0195a0c4-6c1e-7d2a-9b7e-00000000b002", "0195a0c4-6c1e-7d2a-9b7e-00000000b003"
	for _, id := range []string{reservedID, authorizedID, confirmedID} {
		w.place(t, id, "tok_visa")
	}
	must(t, w.h.StockReserved(w.event(t, authorizedID, events.NameStockReserved)))
	must(t, w.h.StockReserved(w.event(t, confirmedID, events.NameStockReserved)))
	must(t, w.h.PaymentAuthorized(w.event(t, confirmedID, events.NamePaymentAuthorized)))
	// 10 on hand, three orders of 3: reserved 6 held + 3 committed (on_hand 7).

	t.Run("reserved: release", func(t *testing.T) {
		must(t, w.h.CancelOrder(cancelMsg(t, reservedID)))
		if st, reason, _, _, ops := w.state(t, reservedID); st != "cancelled" || reason != "cancel_requested" || len(ops) != 0 {
			t.Errorf("%s %q %v", st, reason, ops)
		}
	})
	t.Run("authorized: void and release", func(t *testing.T) {
		must(t, w.h.CancelOrder(cancelMsg(t, authorizedID)))
		if st, _, _, _, ops := w.state(t, authorizedID); st != "cancelled" || ops["void"] != 1 || ops["capture"] != 0 {
			t.Errorf("%s %v; want cancelled with one void", st, ops)
		}
	})
	t.Run("confirmed: refund and restock", func(t *testing.T) {
		must(t, w.h.CancelOrder(cancelMsg(t, confirmedID)))
		if st, _, onHand, reserved, ops := w.state(t, confirmedID); st != "refunded" || ops["refund"] != 1 || onHand != 10 || reserved != 0 {
			t.Errorf("%s on_hand %d reserved %d %v; want refunded, restocked to 10, nothing held", st, onHand, reserved, ops)
		}
	})
	t.Run("authorized but captured at the gateway: refund and restock, never a void", func(t *testing.T) {
		const id = "0195a0c4-6c1e-7d2a-9b7e-00000000b004"
		w.place(t, id, "tok_visa")
		must(t, w.h.StockReserved(w.event(t, id, events.NameStockReserved)))
		var authID string
		must(t, w.pool.QueryRow(context.Background(), `SELECT authorization_id FROM orders WHERE id = $1`, id).Scan(&authID))
		// The capture step reached the gateway and died before its commit.
		must(t, w.gw.Capture(context.Background(), domainpayment.IdempotencyKey(id, domainpayment.OpCapture),
			domainpayment.Authorization{ID: authID, Amount: 1500, Currency: "EUR"}))
		_, _, before, _, _ := w.state(t, id)
		must(t, w.h.CancelOrder(cancelMsg(t, id)))
		st, _, onHand, _, ops := w.state(t, id)
		if st != "refunded" || ops["capture"] != 1 || ops["refund"] != 1 || ops["void"] != 0 || onHand != before {
			t.Errorf("%s on_hand %d (before %d) %v; want refunded, the money returned, stock back where it was", st, onHand, before, ops)
		}
	})
	t.Run("settled: nothing", func(t *testing.T) {
		must(t, w.h.CancelOrder(cancelMsg(t, reservedID)))
		if st, _, _, _, _ := w.state(t, reservedID); st != "cancelled" {
			t.Errorf("%s", st)
		}
	})
	t.Run("undecodable: dead-lettered", func(t *testing.T) {
		bad := message.NewMessage("x", []byte("{"))
		if err := w.h.CancelOrder(bad); !fault.IsPermanent(err) {
			t.Errorf("%v; want a permanent error", err)
		}
	})
}

// TestCompensationThatKeepsFailing: a void that fails on every try is retried; on the last
// delivery the order is parked in needs_attention and the command is dead-lettered.
func TestCompensationThatKeepsFailing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, simulated.Config{})
	const id = "0195a0c4-6c1e-7d2a-9b7e-00000000c001"
	w.place(t, id, "tok_visa")
	must(t, w.h.StockReserved(w.event(t, id, events.NameStockReserved)))
	broken := newHandler(t, w, newGateway(t, w.pool, simulated.Config{FailureRate: 1}))
	err := broken.CancelOrder(cancelMsg(t, id))
	if err == nil || fault.IsPermanent(err) {
		t.Fatalf("first failure: %v; want a retryable error", err)
	}
	if st, _, _, _, _ := w.state(t, id); st != "authorized" {
		t.Fatalf("after a failed void the order is %s, want authorized still", st)
	}
	w.final = true
	if err := broken.CancelOrder(cancelMsg(t, id)); !fault.IsPermanent(err) {
		t.Fatalf("last delivery: %v; want a permanent error (dead letter)", err)
	}
	if st, reason, _, reserved, _ := w.state(t, id); st != "needs_attention" || reason != "cancel_compensation_failed" || reserved != 3 {
		t.Errorf("%s %q reserved %d; want needs_attention, its stock left as it was for the operator", st, reason, reserved)
	}
	// The operator fixed the gateway: resolving voids the hold and releases the stock.
	must(t, w.h.Resolve(context.Background(), id))
	if st, reason, _, reserved, ops := w.state(t, id); st != "cancelled" || reason != "resolved_by_operator" || reserved != 0 || ops["void"] != 1 {
		t.Errorf("after resolve: %s %q reserved %d %v; want cancelled, released, voided", st, reason, reserved, ops)
	}
	if err := w.h.Resolve(context.Background(), id); !errors.Is(err, order.ErrInvalidTransition) {
		t.Errorf("resolving a settled order: %v, want ErrInvalidTransition", err)
	}
}

func TestSweeper(t *testing.T) {
	t.Parallel()
	w := newWorld(t, simulated.Config{})
	const stale, stray, authorized = "0195a0c4-6c1e-7d2a-9b7e-00000000d001", "0195a0c4-6c1e-7d2a-9b7e-00000000d002", "0195a0c4-6c1e-7d2a-9b7e-00000000d003"
	for _, id := range []string{stale, stray, authorized} {
		w.place(t, id, "tok_visa")
	}
	// An authorize step that reached the gateway and died before its commit leaves a hold.
	_, err := w.gw.Authorize(context.Background(), domainpayment.AuthorizeRequest{
		IdempotencyKey: domainpayment.IdempotencyKey(stray, domainpayment.OpAuthorize), OrderID: stray, Amount: 1500, Currency: "EUR", Token: "tok_visa",
	})
	must(t, err)
	must(t, w.h.StockReserved(w.event(t, authorized, events.NameStockReserved)))
	time.Sleep(20 * time.Millisecond)
	sw, err := payment.NewSweeper(w.h, w.store, payment.SweepConfig{ReservationTTL: time.Millisecond, StuckAfter: time.Millisecond})
	must(t, err)
	if _, err := sw.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{stale: "expired", stray: "expired", authorized: "confirmed"} {
		if st, _, _, _, _ := w.state(t, id); st != want {
			t.Errorf("order %s: %s, want %s", id, st, want)
		}
	}
	if _, _, onHand, reserved, ops := w.state(t, stray); reserved != 0 || onHand != 7 || ops["void"] != 1 {
		t.Errorf("after the sweep: on_hand %d reserved %d, stray order's ops %v; want 7, 0 and its hold voided", onHand, reserved, ops)
	}
}

// TestSweepThatKeepsFailing: an order whose sweep fails every time (the gateway is broken) is
// parked in needs_attention after a few sweeps instead of blocking the sweeper for good.
func TestSweepThatKeepsFailing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, simulated.Config{})
	const id = "0195a0c4-6c1e-7d2a-9b7e-00000000d101"
	w.place(t, id, "tok_visa")
	broken := newHandler(t, w, newGateway(t, w.pool, simulated.Config{FailureRate: 1}))
	sw, err := payment.NewSweeper(broken, w.store, payment.SweepConfig{ReservationTTL: time.Nanosecond})
	must(t, err)
	for i := 1; i <= 5; i++ {
		if _, err := sw.Sweep(context.Background()); err == nil {
			t.Fatalf("sweep %d succeeded with a broken gateway", i)
		}
	}
	if st, reason, _, _, _ := w.state(t, id); st != "needs_attention" || reason != "sweep_failed" {
		t.Errorf("after 5 failed sweeps: %s %q, want needs_attention sweep_failed", st, reason)
	}
}

// retriedStore runs every step's function twice, as a transaction retried after a deadlock
// does: first on a copy of the order that is thrown away, then on the order it commits.
type retriedStore struct{ *postgres.Store }

func (r retriedStore) UpdateOrder(ctx context.Context, consumer, messageID, correlationID, id string, fn func(*order.Order) error) (bool, error) {
	first := true
	return r.Store.UpdateOrder(ctx, consumer, messageID, correlationID, id, func(o *order.Order) error {
		if first {
			first = false
			attempt, err := r.GetOrder(ctx, id)
			if err != nil {
				return err
			}
			if err := fn(attempt); err != nil {
				return err
			}
		}
		return fn(o)
	})
}

// TestADeclineIsCountedOnceWhenItsStepRunsTwice: the gateway declines on both runs of the
// step (the second is a replay of the first), and the one committed cancellation counts once.
func TestADeclineIsCountedOnceWhenItsStepRunsTwice(t *testing.T) {
	t.Parallel()
	w := newWorld(t, simulated.Config{})
	const id = "0195a0c4-6c1e-7d2a-9b7e-00000000a009"
	w.h = newHandlerOver(t, w, retriedStore{w.store}, w.gw)
	w.place(t, id, "tok_chargeDeclined")
	must(t, w.h.StockReserved(w.event(t, id, events.NameStockReserved)))
	if st, reason, _, _, _ := w.state(t, id); st != "cancelled" || reason != "payment_declined: card_declined" {
		t.Fatalf("declined order: %s %q; want cancelled for the decline", st, reason)
	}
	if n := testenv.Counter(t, w.reg, "orders_payment_declines_total", "stage", "authorize"); n != 1 {
		t.Errorf("orders_payment_declines_total{stage=authorize} = %v after a step that ran twice, want 1", n)
	}
}
