package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/testenv"
)

// TestAttentionResolve: an operator settles an order parked in needs_attention with the CLI;
// its stock comes back, and a wrong id is an error.
func TestAttentionResolve(t *testing.T) {
	t.Parallel()
	dbURL := testenv.DatabaseURL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "DB_MAX_CONNS": testDBMaxConns}
	getenv := func(k string) string { return env[k] }
	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate"}, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	db := connectDB(t, dbURL)
	store, err := postgres.NewStore(db, postgres.GroupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := store.SetStock(ctx, "SKU-1", 5); err != nil {
		t.Fatal(err)
	}
	const id = "0195a0c4-6c1e-7d2a-9b7e-0000000e0001"
	p := order.PlaceParams{ID: id, Storefront: "shop-a", CustomerID: "c", Currency: "EUR", PaymentToken: "tok_visa",
		Lines: []order.Line{{SKU: "SKU-1", Quantity: 2, UnitPrice: 100}}, AcceptedAt: time.Now()}
	if _, _, err := testenv.Place(ctx, store, "t", p, "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.UpdateOrder(ctx, events.Unsolicited("c"), id, func(o *order.Order) error { return o.FlagForAttention("test", time.Now()) }); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"attention", "resolve", id}, getenv, &out, &out); err != nil {
		t.Fatalf("attention resolve: %v\n%s", err, out.String())
	}
	var status string
	var reserved int
	if err := db.QueryRow(ctx, `SELECT o.status, s.reserved FROM orders o, stock s WHERE o.id = $1 AND s.sku = 'SKU-1'`, id).Scan(&status, &reserved); err != nil {
		t.Fatal(err)
	}
	if status != "cancelled" || reserved != 0 {
		t.Errorf("after resolve: %s, %d reserved; want cancelled and released", status, reserved)
	}
	if err := run(ctx, []string{"attention", "resolve", "0195a0c4-6c1e-7d2a-9b7e-0000000e00ff"}, getenv, &out, &out); err == nil {
		t.Error("resolving an unknown order succeeded")
	}
	if err := run(ctx, []string{"attention"}, getenv, &out, &out); exitCode(err) != 2 {
		t.Errorf("attention without arguments: %v, want a usage error", err)
	}
}
