package payment_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/domain/order"
	domainpayment "github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/handlers/payment"
	"github.com/shopflow/orders/internal/gateway/simulated"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/saga"
	"github.com/shopflow/orders/internal/testenv"
)

// world is one payment worker over real PostgreSQL and the simulated gateway.
type world struct {
	*testenv.SagaWorld
	h     *payment.Handler
	final bool // what the handler is told about the delivery being the last
}

func newWorld(t *testing.T, gwCfg simulated.Config) *world {
	t.Helper()
	w := &world{SagaWorld: testenv.NewSagaWorld(t, gwCfg)}
	w.h = w.handler(t, w.Saga)
	return w
}

func (w *world) handler(t *testing.T, s *saga.Service) *payment.Handler {
	t.Helper()
	h, err := payment.NewHandler(s, slog.New(slog.DiscardHandler), func(context.Context) bool { return w.final })
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func cancelMsg(t *testing.T, id string) *message.Message {
	t.Helper()
	env, err := events.NewCancelOrder(id, "cancel_requested", "corr", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return testenv.ToMessage(env)
}

func TestPaymentPaths(t *testing.T) {
	t.Parallel()
	w := newWorld(t, simulated.Config{})
	const approved, declined, flaky = "0195a0c4-6c1e-7d2a-9b7e-00000000a001", "0195a0c4-6c1e-7d2a-9b7e-00000000a002", "0195a0c4-6c1e-7d2a-9b7e-00000000a003"

	w.Place(t, approved, "tok_visa")
	testenv.Must(t, w.h.StockReserved(w.Event(t, approved, events.NameStockReserved)))
	testenv.Must(t, w.h.PaymentAuthorized(w.Event(t, approved, events.NamePaymentAuthorized)))
	if s := w.State(t, approved); s.Status != "confirmed" || s.OnHand != 7 || s.Reserved != 0 || s.Ops["capture"] != 1 {
		t.Errorf("approved: %+v; want confirmed, 7, 0, one capture", s)
	}
	testenv.Must(t, w.h.StockReserved(w.Event(t, approved, events.NameStockReserved))) // redelivered: acknowledged, no effect
	if s := w.State(t, approved); s.Ops["authorize"] != 1 || s.Ops["capture"] != 1 {
		t.Errorf("redelivery changed the gateway's record: %v", s.Ops)
	}

	w.Place(t, declined, "tok_chargeDeclined")
	testenv.Must(t, w.h.StockReserved(w.Event(t, declined, events.NameStockReserved)))
	if s := w.State(t, declined); s.Status != "cancelled" || s.Reason != "payment_declined: card_declined" || s.OnHand != 7 || s.Reserved != 0 {
		t.Errorf("declined: %+v; want cancelled with the reason, its stock released", s)
	}
	testenv.Must(t, w.h.StockReserved(w.Event(t, declined, events.NameStockReserved))) // redelivered
	if n := testenv.Counter(t, w.Reg, "orders_payment_declines_total", "stage", "authorize"); n != 1 {
		t.Errorf("orders_payment_declines_total{stage=authorize} = %v after one decline and its redelivery, want 1", n)
	}

	w.Place(t, flaky, "tok_chargeDeclinedProcessingError")
	msg := w.Event(t, flaky, events.NameStockReserved)
	for i := 0; ; i++ { // fails transiently twice, then approves: the router retries it so
		err := w.h.StockReserved(msg)
		if err == nil {
			break
		}
		if !errors.Is(err, domainpayment.ErrTransient) || fault.IsPermanent(err) || i > 5 {
			t.Fatalf("attempt %d: %v; want a retryable transient error", i, err)
		}
	}
	if s := w.State(t, flaky); s.Status != "authorized" || s.Ops["authorize"] != 1 {
		t.Errorf("flaky: %+v; want authorized once", s)
	}
}

func TestCancelPaths(t *testing.T) {
	t.Parallel()
	w := newWorld(t, simulated.Config{})
	const reservedID, authorizedID, confirmedID = "0195a0c4-6c1e-7d2a-9b7e-00000000b001", "0195a0c4-6c1e-7d2a-9b7e-00000000b002", "0195a0c4-6c1e-7d2a-9b7e-00000000b003"
	for _, id := range []string{reservedID, authorizedID, confirmedID} {
		w.Place(t, id, "tok_visa")
	}
	testenv.Must(t, w.h.StockReserved(w.Event(t, authorizedID, events.NameStockReserved)))
	testenv.Must(t, w.h.StockReserved(w.Event(t, confirmedID, events.NameStockReserved)))
	testenv.Must(t, w.h.PaymentAuthorized(w.Event(t, confirmedID, events.NamePaymentAuthorized)))
	// 10 on hand, three orders of 3: reserved 6 held + 3 committed (on_hand 7).

	t.Run("reserved: release", func(t *testing.T) {
		testenv.Must(t, w.h.CancelOrder(cancelMsg(t, reservedID)))
		if s := w.State(t, reservedID); s.Status != "cancelled" || s.Reason != "cancel_requested" || len(s.Ops) != 0 {
			t.Errorf("%+v", s)
		}
	})
	t.Run("authorized: void and release", func(t *testing.T) {
		testenv.Must(t, w.h.CancelOrder(cancelMsg(t, authorizedID)))
		if s := w.State(t, authorizedID); s.Status != "cancelled" || s.Ops["void"] != 1 || s.Ops["capture"] != 0 {
			t.Errorf("%+v; want cancelled with one void", s)
		}
	})
	t.Run("confirmed: refund and restock", func(t *testing.T) {
		testenv.Must(t, w.h.CancelOrder(cancelMsg(t, confirmedID)))
		if s := w.State(t, confirmedID); s.Status != "refunded" || s.Ops["refund"] != 1 || s.OnHand != 10 || s.Reserved != 0 {
			t.Errorf("%+v; want refunded, restocked to 10, nothing held", s)
		}
	})
	t.Run("authorized but captured at the gateway: refund and restock, never a void", func(t *testing.T) {
		const id = "0195a0c4-6c1e-7d2a-9b7e-00000000b004"
		w.Place(t, id, "tok_visa")
		testenv.Must(t, w.h.StockReserved(w.Event(t, id, events.NameStockReserved)))
		var authID string
		testenv.Must(t, w.Pool.QueryRow(context.Background(), `SELECT authorization_id FROM orders WHERE id = $1`, id).Scan(&authID))
		// The capture step reached the gateway and died before its commit.
		testenv.Must(t, w.GW.Capture(context.Background(), domainpayment.IdempotencyKey(id, domainpayment.OpCapture),
			domainpayment.Authorization{ID: authID, Amount: 1500, Currency: "EUR"}))
		before := w.State(t, id).OnHand
		testenv.Must(t, w.h.CancelOrder(cancelMsg(t, id)))
		s := w.State(t, id)
		if s.Status != "refunded" || s.Ops["capture"] != 1 || s.Ops["refund"] != 1 || s.Ops["void"] != 0 || s.OnHand != before {
			t.Errorf("%+v (on_hand before %d); want refunded, the money returned, stock back where it was", s, before)
		}
	})
	t.Run("reserved but authorized and captured at the gateway: refund and restock", func(t *testing.T) {
		const id = "0195a0c4-6c1e-7d2a-9b7e-00000000b005"
		w.Place(t, id, "tok_visa")
		// An authorize step that captures too (saga.WithCaptureOnAuthorize) reached the gateway
		// twice and died before its commit: the order still reads reserved.
		ctx := context.Background()
		auth, err := w.GW.Authorize(ctx, domainpayment.AuthorizeRequest{IdempotencyKey: domainpayment.IdempotencyKey(id, domainpayment.OpAuthorize),
			OrderID: id, Amount: 1500, Currency: "EUR", Token: "tok_visa"})
		testenv.Must(t, err)
		testenv.Must(t, w.GW.Capture(ctx, domainpayment.IdempotencyKey(id, domainpayment.OpCapture), auth))
		before := w.State(t, id)
		testenv.Must(t, w.h.CancelOrder(cancelMsg(t, id)))
		s := w.State(t, id)
		if s.Status != "refunded" || s.Ops["capture"] != 1 || s.Ops["refund"] != 1 || s.OnHand != before.OnHand || s.Reserved != before.Reserved-3 {
			t.Errorf("%+v (before %+v); want refunded, the money returned, the units back on sale", s, before)
		}
	})
	t.Run("settled: nothing", func(t *testing.T) {
		testenv.Must(t, w.h.CancelOrder(cancelMsg(t, reservedID)))
		if s := w.State(t, reservedID); s.Status != "cancelled" {
			t.Errorf("%s", s.Status)
		}
	})
	t.Run("undecodable: dead-lettered", func(t *testing.T) {
		bad := message.NewMessage("x", []byte("{"))
		if err := w.h.CancelOrder(bad); !fault.IsPermanent(err) {
			t.Errorf("%v; want a permanent error", err)
		}
	})
}

// TestCompensationThatKeepsFailing: a void that the gateway refuses on every try (an error of
// no kind the saga knows: it cannot succeed until someone acts) is retried; on the last
// delivery the order is parked in needs_attention and the command is dead-lettered.
func TestCompensationThatKeepsFailing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, simulated.Config{})
	const id = "0195a0c4-6c1e-7d2a-9b7e-00000000c001"
	w.Place(t, id, "tok_visa")
	testenv.Must(t, w.h.StockReserved(w.Event(t, id, events.NameStockReserved)))
	broken := w.handler(t, w.Over(t, w.Store, testenv.RefusingGateway{Gateway: w.GW, Err: errors.New("gateway: authorization locked")}))
	err := broken.CancelOrder(cancelMsg(t, id))
	if err == nil || fault.IsPermanent(err) {
		t.Fatalf("first failure: %v; want a retryable error", err)
	}
	if s := w.State(t, id); s.Status != "authorized" {
		t.Fatalf("after a failed void the order is %s, want authorized still", s.Status)
	}
	w.final = true
	if err := broken.CancelOrder(cancelMsg(t, id)); !fault.IsPermanent(err) {
		t.Fatalf("last delivery: %v; want a permanent error (dead letter)", err)
	}
	if s := w.State(t, id); s.Status != "needs_attention" || s.Reason != "cancel_compensation_failed" || s.Reserved != 3 {
		t.Errorf("%+v; want needs_attention, its stock left as it was for the operator", s)
	}
	// The operator fixed the gateway: resolving voids the hold and releases the stock.
	testenv.Must(t, w.Saga.Resolve(context.Background(), id))
	if s := w.State(t, id); s.Status != "cancelled" || s.Reason != "resolved_by_operator" || s.Reserved != 0 || s.Ops["void"] != 1 {
		t.Errorf("after resolve: %+v; want cancelled, released, voided", s)
	}
	if err := w.Saga.Resolve(context.Background(), id); !errors.Is(err, order.ErrInvalidTransition) {
		t.Errorf("resolving a settled order: %v, want ErrInvalidTransition", err)
	}
}

// retriedStore runs every step's function twice, as a transaction retried after a deadlock
// does: first on a copy of the order that is thrown away, then on the order it commits.
type retriedStore struct{ *postgres.Store }

func (r retriedStore) UpdateOrder(ctx context.Context, d events.Delivery, id string, fn func(*order.Order) error) (bool, error) {
	first := true
	return r.Store.UpdateOrder(ctx, d, id, func(o *order.Order) error {
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
	w.h = w.handler(t, w.Over(t, retriedStore{w.Store}, w.GW))
	w.Place(t, id, "tok_chargeDeclined")
	testenv.Must(t, w.h.StockReserved(w.Event(t, id, events.NameStockReserved)))
	if s := w.State(t, id); s.Status != "cancelled" || s.Reason != "payment_declined: card_declined" {
		t.Fatalf("declined order: %+v; want cancelled for the decline", s)
	}
	if n := testenv.Counter(t, w.Reg, "orders_payment_declines_total", "stage", "authorize"); n != 1 {
		t.Errorf("orders_payment_declines_total{stage=authorize} = %v after a step that ran twice, want 1", n)
	}
}

// TestAGatewayOutageIsRetriedNotParked: transient gateway failures on every call are an outage
// (fault.ErrUnavailable), on every step, even on the last delivery of a cancel: the router
// retries them for as long as they last and the order is never parked for them.
func TestAGatewayOutageIsRetriedNotParked(t *testing.T) {
	t.Parallel()
	w := newWorld(t, simulated.Config{})
	const authorizeID, captureID = "0195a0c4-6c1e-7d2a-9b7e-00000000c101", "0195a0c4-6c1e-7d2a-9b7e-00000000c102"
	w.Place(t, authorizeID, "tok_visa")
	w.Place(t, captureID, "tok_visa")
	testenv.Must(t, w.h.StockReserved(w.Event(t, captureID, events.NameStockReserved)))
	down := w.handler(t, w.Over(t, w.Store, w.Gateway(t, simulated.Config{FailureRate: 1})))
	w.final = true
	for name, err := range map[string]error{
		"authorize": down.StockReserved(w.Event(t, authorizeID, events.NameStockReserved)),
		"capture":   down.PaymentAuthorized(w.Event(t, captureID, events.NamePaymentAuthorized)),
		"cancel":    down.CancelOrder(cancelMsg(t, captureID)),
	} {
		if !errors.Is(err, fault.ErrUnavailable) || fault.IsPermanent(err) {
			t.Errorf("%s with the gateway down: %v; want an outage, never permanent", name, err)
		}
	}
	if s := w.State(t, captureID); s.Status != "authorized" {
		t.Errorf("after a cancel's last delivery with the gateway down, the order is %s; want authorized, not parked", s.Status)
	}
}

// With capture on authorize (as `orders` runs), the authorize step captures too: the order is
// confirmed in one step, with both statuses in its history, and the capture step that
// payment.authorized still triggers only reads it. A capture that fails transiently in the
// authorize step leaves the order authorized and committed, and the capture step confirms it.
func TestCaptureOnAuthorize(t *testing.T) {
	t.Parallel()
	w := newWorld(t, simulated.Config{})
	h := w.handler(t, w.Over(t, w.Store, w.GW, saga.WithCaptureOnAuthorize()))
	const settled, deferred = "0195a0c4-6c1e-7d2a-9b7e-00000000e001", "0195a0c4-6c1e-7d2a-9b7e-00000000e002"

	w.Place(t, settled, "tok_visa")
	testenv.Must(t, h.StockReserved(w.Event(t, settled, events.NameStockReserved)))
	if s := w.State(t, settled); s.Status != "confirmed" || s.Ops["authorize"] != 1 || s.Ops["capture"] != 1 || s.OnHand != 7 || s.Reserved != 0 {
		t.Errorf("after the authorize step: %+v; want confirmed, authorized and captured once, 3 units gone", s)
	}
	o, err := w.Store.GetOrder(context.Background(), settled)
	testenv.Must(t, err)
	var statuses []order.Status
	for _, c := range o.History() {
		statuses = append(statuses, c.Status)
	}
	if want := []order.Status{order.StatusPending, order.StatusReserved, order.StatusAuthorized, order.StatusConfirmed}; !slices.Equal(statuses, want) {
		t.Errorf("history %v, want %v", statuses, want)
	}
	testenv.Must(t, h.PaymentAuthorized(w.Event(t, settled, events.NamePaymentAuthorized)))
	if s := w.State(t, settled); s.Status != "confirmed" || s.Ops["capture"] != 1 {
		t.Errorf("after the capture step: %+v; want it unchanged", s)
	}

	w.Place(t, deferred, "tok_visa")
	flaky := w.handler(t, w.Over(t, w.Store, testenv.RefusingGateway{Gateway: w.GW, Err: fmt.Errorf("gateway busy: %w", domainpayment.ErrTransient)}, saga.WithCaptureOnAuthorize()))
	testenv.Must(t, flaky.StockReserved(w.Event(t, deferred, events.NameStockReserved)))
	if s := w.State(t, deferred); s.Status != "authorized" || s.Ops["authorize"] != 1 || s.Ops["capture"] != 0 {
		t.Errorf("after a transient capture failure: %+v; want authorized, no capture", s)
	}
	testenv.Must(t, h.PaymentAuthorized(w.Event(t, deferred, events.NamePaymentAuthorized)))
	if s := w.State(t, deferred); s.Status != "confirmed" || s.Ops["capture"] != 1 {
		t.Errorf("after the capture step: %+v; want confirmed", s)
	}
}
