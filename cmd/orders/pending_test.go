package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/testenv"
)

// TestCancelBeforeIntake: with no worker running, an accepted order reads as pending for its
// storefront (404 for another) and a cancel for it is accepted. Once a worker starts, the
// order is taken in and the cancel applies to it; nothing is dead-lettered.
func TestCancelBeforeIntake(t *testing.T) {
	t.Parallel()
	natsURL, dbURL := testenv.JetStream(t), testenv.DatabaseURL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "NATS_URL": natsURL}
	api := startInstance(t, "api", env)
	c := newClient(api.api)
	c.setStock(t, "SKU-1", 5)
	id, res, err := c.placeOrder("before-intake-1", orderBody("c-1", line{SKU: "SKU-1", Quantity: 2, UnitPrice: 700}))
	if err != nil || id == "" {
		t.Fatalf("place: %v %d %s", err, res.status, res.body)
	}
	res, err = c.do(http.MethodGet, "/v1/orders/"+id, nil, nil)
	var got struct{ Status string }
	if err != nil || res.status != http.StatusOK || json.Unmarshal(res.body, &got) != nil || got.Status != "pending" {
		t.Fatalf("GET before the intake: %v %d %s, want 200 pending", err, res.status, res.body)
	}
	if res, err := newClientWithKey(api.api, keyShopB).do(http.MethodGet, "/v1/orders/"+id, nil, nil); err != nil || res.status != http.StatusNotFound {
		t.Errorf("another storefront's GET: %v %d, want 404", err, res.status)
	}
	if res, err = c.do(http.MethodPost, "/v1/orders/"+id+"/cancel", nil, nil); err != nil || res.status != http.StatusAccepted {
		t.Fatalf("cancel before the intake: %v %d %s, want 202", err, res.status, res.body)
	}

	startInstance(t, "worker", env)
	db := connectDB(t, dbURL)
	// The cancel waits for the order; the payment step may authorize and capture it first
	// (confirmed, then refunded once the cancel applies), so wait for the cancel's outcome.
	var status string
	deadline := time.Now().Add(60 * time.Second)
	for !slices.Contains([]string{"cancelled", "refunded"}, status) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if err := db.QueryRow(context.Background(), `SELECT status FROM orders WHERE id = $1`, id).Scan(&status); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
	}
	if !slices.Contains([]string{"cancelled", "refunded"}, status) {
		t.Errorf("order %s after its cancel = %q, want cancelled or refunded", id, status)
	}
	checkStockInvariants(t, db)
	js := testenv.Connect(t, natsURL)
	s, err := js.Stream(context.Background(), events.StreamDeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Errorf("%d dead letters, want none", info.State.Msgs)
	}
}
