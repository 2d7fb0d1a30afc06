package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/orders/internal/gateway/stripe/stripefake"
	"github.com/shopflow/orders/internal/testenv"
)

// TestCancelWhileStripeSearchLagsLeavesNoHold is finding 1 of issue 11 end to end: the whole
// service on the Stripe gateway, against a Stripe-compatible server whose search lags by an
// hour. The authorize reaches Stripe and holds funds, but its answers are lost, so the order
// stays reserved; the customer cancels. The cancel must find and void the hold, however long
// the search lags: the order ends cancelled (or refunded, had the authorize step won the race
// once answers flow again), and no PaymentIntent holds funds.
func TestCancelWhileStripeSearchLagsLeavesNoHold(t *testing.T) {
	t.Parallel()
	fake := stripefake.New(t, time.Hour)
	fake.LoseConfirms(true)
	dbURL := testenv.DatabaseURL(t)
	in := startInstance(t, "run", map[string]string{"DATABASE_URL": dbURL, "DATA_DIR": t.TempDir(),
		"PAYMENT_GATEWAY": "stripe", "STRIPE_API_KEY": "sk_test_stripefake", "STRIPE_BASE_URL": fake.URL()})
	c := newClient(in.api)
	db := connectDB(t, dbURL)
	c.setStock(t, "SKU-LAG", 5)
	id, res, err := c.placeOrder("lag-1", orderBody("c-lag", line{SKU: "SKU-LAG", Quantity: 1, UnitPrice: 1999}))
	if err != nil || id == "" {
		t.Fatalf("place order: %v %d %s", err, res.status, res.body)
	}
	awaitLag(t, 30*time.Second, "stripe to hold funds for the order", func() bool { return len(fake.Holds(id)) == 1 })
	if s := orderStatus(t, db, id); s != "reserved" {
		t.Fatalf("order %s while every authorize answer is lost, want reserved", s)
	}

	mismatches := fake.IdempotencyErrors()
	cancelSome(t, c, []string{id})
	// The cancel has run once when the order left reserved (it concluded there was no hold) or
	// when its lookup reused the authorize key at Stripe. Then answers flow again.
	awaitLag(t, 30*time.Second, "the cancel to run", func() bool {
		return orderStatus(t, db, id) != "reserved" || fake.IdempotencyErrors() > mismatches
	})
	fake.LoseConfirms(false)

	// Confirmed is not settled here: the cancel is still to run, and refunds.
	awaitLag(t, 60*time.Second, "the cancel to settle the order", func() bool {
		switch orderStatus(t, db, id) {
		case "cancelled", "refunded", "expired", "needs_attention":
			return true
		}
		return false
	})
	t.Logf("order ended %s; its PaymentIntents: %+v", orderStatus(t, db, id), fake.Intents(id))
	if holds := fake.Holds(""); len(holds) != 0 {
		t.Errorf("order %s is %s and Stripe still holds %+v", id, orderStatus(t, db, id), holds)
	}
	if s := orderStatus(t, db, id); s != "cancelled" && s != "refunded" {
		t.Errorf("order %s, want cancelled (or refunded)", s)
	}
}

// awaitLag polls cond until it holds, failing the test after within.
func awaitLag(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("waited %s for %s", within, what)
}

// orderStatus is the stored status of order id ("" while the intake has not stored it).
func orderStatus(t *testing.T, db *pgxpool.Pool, id string) string {
	t.Helper()
	var s string
	err := db.QueryRow(context.Background(), `SELECT status FROM orders WHERE id = $1`, id).Scan(&s)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("status of %s: %v", id, err)
	}
	return s
}
