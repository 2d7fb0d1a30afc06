package inventory_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/handlers/inventory"
	"github.com/shopflow/orders/internal/gateway/simulated"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/testenv"
)

func newHandler(t *testing.T, w *testenv.SagaWorld) *inventory.Handler {
	t.Helper()
	h, err := inventory.NewHandler(w.Saga, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func params(id string, qty int64) order.PlaceParams {
	return order.PlaceParams{ID: id, Storefront: "shop-a", CustomerID: "c", Currency: "EUR", PaymentToken: "tok_visa",
		Lines: []order.Line{{SKU: "SKU-1", Quantity: qty, UnitPrice: 500}}, AcceptedAt: time.Now()}
}

// command returns p's PlaceOrder command as delivered: the ingest never validates in this
// test's place, so the command may break today's rules.
func command(t *testing.T, p order.PlaceParams) *message.Message {
	t.Helper()
	env, err := events.NewPlaceOrder(p, "corr-"+p.ID)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.ToMessage(env)
}

func TestPlaceOrderReservesOnce(t *testing.T) {
	t.Parallel()
	w := testenv.NewSagaWorld(t, simulated.Config{})
	h := newHandler(t, w)
	const id = "0195a0c4-6c1e-7d2a-9b7e-0000000f0001"
	testenv.Must(t, h.PlaceOrder(command(t, params(id, 3))))
	testenv.Must(t, h.PlaceOrder(command(t, params(id, 3)))) // redelivered
	if s := w.State(t, id); s.Status != "reserved" || s.Reserved != 3 {
		t.Errorf("%+v; want reserved once, 3 units held", s)
	}
	if n := testenv.Counter(t, w.Reg, "orders_duplicate_messages_total", "consumer", events.ConsumerInventoryPlaceOrder); n != 1 {
		t.Errorf("duplicates counted %v, want 1", n)
	}
}

// TestARedeliveredCommandThatTodaysRulesRefuseIsADuplicate: a command applied before is
// acknowledged as a duplicate even when rules made stricter since would refuse it; it is
// neither dead-lettered nor applied again.
func TestARedeliveredCommandThatTodaysRulesRefuseIsADuplicate(t *testing.T) {
	t.Parallel()
	w := testenv.NewSagaWorld(t, simulated.Config{})
	h := newHandler(t, w)
	const id = "0195a0c4-6c1e-7d2a-9b7e-0000000f0002"
	testenv.Must(t, h.PlaceOrder(command(t, params(id, 3))))
	if err := h.PlaceOrder(command(t, params(id, 0))); err != nil { // same message id, refused today
		t.Fatalf("redelivery refused by today's rules: %v; want it acknowledged as a duplicate", err)
	}
	if s := w.State(t, id); s.Status != "reserved" || s.Reserved != 3 {
		t.Errorf("%+v; want the first delivery's effect only", s)
	}
}

// TestAnInvalidCommandSettlesAsRejected: a command that no retry can fix is dead-lettered and
// its order is recorded as rejected with the reason, so the id answered with a 202 settles.
func TestAnInvalidCommandSettlesAsRejected(t *testing.T) {
	t.Parallel()
	w := testenv.NewSagaWorld(t, simulated.Config{})
	h := newHandler(t, w)
	const id = "0195a0c4-6c1e-7d2a-9b7e-0000000f0003"
	msg := command(t, params(id, 0))
	if err := h.PlaceOrder(msg); !fault.IsPermanent(err) {
		t.Fatalf("invalid command: %v; want a permanent error (dead letter)", err)
	}
	o, err := w.Store.GetOrder(context.Background(), id)
	if err != nil {
		t.Fatalf("the order of a dead-lettered command: %v; want it recorded as rejected", err)
	}
	h2 := o.History()
	if o.Status() != order.StatusRejected || o.Storefront() != "shop-a" || !strings.HasPrefix(h2[len(h2)-1].Reason, "invalid_command") {
		t.Errorf("order %s of %q, reason %q; want rejected for shop-a with reason invalid_command…", o.Status(), o.Storefront(), h2[len(h2)-1].Reason)
	}
	if err := h.PlaceOrder(msg); err != nil { // redriven from the dead letters
		t.Errorf("redriven invalid command: %v; want it acknowledged (its order is settled)", err)
	}
	if s := w.State(t, "0195a0c4-6c1e-7d2a-9b7e-0000000f0003"); s.Reserved != 0 {
		t.Errorf("a rejected command holds %d units", s.Reserved)
	}
}

// TestAReadOnlyDatabaseIsAnOutage: a primary that refuses writes (failover, 25006) delays the
// command; it never counts toward giving up on it.
func TestAReadOnlyDatabaseIsAnOutage(t *testing.T) {
	t.Parallel()
	w := testenv.NewSagaWorld(t, simulated.Config{})
	var dbName string
	testenv.Must(t, w.Pool.QueryRow(context.Background(), `SELECT current_database()`).Scan(&dbName))
	ro, err := postgres.Connect(context.Background(), "postgres://postgres@127.0.0.1:5432/"+dbName+"?sslmode=disable&default_transaction_read_only=on")
	testenv.Must(t, err)
	t.Cleanup(ro.Close)
	store, err := postgres.NewStore(ro, postgres.GroupConfig{})
	testenv.Must(t, err)
	h := newHandler(t, &testenv.SagaWorld{Saga: w.Over(t, store, w.GW)})
	err = h.PlaceOrder(command(t, params("0195a0c4-6c1e-7d2a-9b7e-0000000f0004", 1)))
	if !errors.Is(err, fault.ErrUnavailable) || fault.IsPermanent(err) {
		t.Errorf("intake on a read-only primary: %v; want an outage (fault.ErrUnavailable), never permanent", err)
	}
}

// TestAnUnreadableCommandSettlesForItsStorefront: a command the worker cannot decode (a field
// from a newer release, or an envelope missing its name) still settles as rejected for the
// storefront that placed it, so that storefront reads how it ended.
func TestAnUnreadableCommandSettlesForItsStorefront(t *testing.T) {
	t.Parallel()
	w := testenv.NewSagaWorld(t, simulated.Config{})
	h := newHandler(t, w)
	newer := command(t, params("0195a0c4-6c1e-7d2a-9b7e-0000000f0005", 1))
	newer.Payload = []byte(strings.Replace(string(newer.Payload), `{`, `{"gift_note":"from a newer ingest",`, 1))
	unnamed := command(t, params("0195a0c4-6c1e-7d2a-9b7e-0000000f0006", 1))
	delete(unnamed.Metadata, events.MetaName)
	for _, msg := range []*message.Message{newer, unnamed} {
		if err := h.PlaceOrder(msg); !fault.IsPermanent(err) {
			t.Fatalf("unreadable command: %v; want a permanent error (dead letter)", err)
		}
	}
	for _, id := range []string{"0195a0c4-6c1e-7d2a-9b7e-0000000f0005", "0195a0c4-6c1e-7d2a-9b7e-0000000f0006"} {
		o, err := w.Store.GetOrder(context.Background(), id)
		if err != nil || o.Status() != order.StatusRejected || o.Storefront() != "shop-a" {
			t.Errorf("order %s of an unreadable command: %v; want rejected for shop-a", id, describe(o, err))
		}
	}
}

func describe(o *order.Order, err error) string {
	if err != nil {
		return err.Error()
	}
	return string(o.Status()) + " for " + strconv.Quote(o.Storefront())
}
