package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/orders/internal/testenv"
)

// TestMixedLoadSettlesEveryOrder places 500 orders with approving, declining and transiently
// failing tokens over scarce stock, and cancels some of them on the way. Every order settles;
// no settled order holds stock; the units that left on_hand are those of confirmed orders; the
// gateway's own record shows one capture per captured order and one refund per refunded one.
func TestMixedLoadSettlesEveryOrder(t *testing.T) {
	t.Parallel()
	dbURL := testenv.DatabaseURL(t)
	in := startInstance(t, "run", map[string]string{"DATABASE_URL": dbURL, "DATA_DIR": t.TempDir(), "SWEEP_INTERVAL": "1s"})
	c := newClient(in.api)
	rng := rand.New(rand.NewPCG(7, 11))
	const skus, orders = 20, 500
	initial := 0
	for i := range skus {
		n := 15 + rng.IntN(40)
		initial += n
		c.setStock(t, fmt.Sprintf("SKU-%02d", i), n)
	}
	tokens := []string{"tok_visa", "tok_visa", "tok_visa", "tok_chargeDeclined", "tok_chargeDeclinedProcessingError"}
	bodies := make([]map[string]any, orders)
	for i := range bodies {
		body := orderBody(fmt.Sprintf("c-%d", i), line{SKU: fmt.Sprintf("SKU-%02d", rng.IntN(skus)), Quantity: 1 + rng.IntN(3), UnitPrice: 100 + rng.IntN(900)})
		body["payment"] = map[string]string{"token": tokens[rng.IntN(len(tokens))]}
		bodies[i] = body
	}
	ids := postAll(t, c, bodies, 32)
	cancelSome(t, c, ids[:50])

	db := connectDB(t, dbURL)
	waitAllSettled(t, db, ids, 120*time.Second)
	waitCancelsApplied(t, db, ids[:50], 60*time.Second)
	byStatus := countByStatus(t, db)
	t.Logf("statuses: %v", byStatus)
	for _, s := range []string{"confirmed", "rejected", "cancelled", "refunded"} {
		if byStatus[s] == 0 {
			t.Errorf("no order ended %s: the load should produce each outcome (%v)", s, byStatus)
		}
	}
	checkSettledStock(t, db, initial)
	checkGatewayRecord(t, db)

	// The read side: caught up, in agreement with the write side, and rebuilt equal to itself.
	waitProjected(t, db, 60*time.Second)
	checkProjectionsAgreeWithOrders(t, db)
	rebuildAndCompare(t, db, dbURL)
}

// cancelSome asks to cancel each order once it is readable (the worker takes it in within
// milliseconds); 202 and 409 (settled already) are both fine.
func cancelSome(t *testing.T, c *client, ids []string) {
	t.Helper()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				res, err := c.do(http.MethodPost, "/v1/orders/"+id+"/cancel", nil, nil)
				if err != nil {
					t.Errorf("cancel %s: %v", id, err)
					return
				}
				switch res.status {
				case http.StatusAccepted, http.StatusConflict:
					return
				case http.StatusNotFound:
					continue
				default:
					t.Errorf("cancel %s: %d %s", id, res.status, res.body)
					return
				}
			}
			t.Errorf("cancel %s: still 404 after 10s", id)
		})
	}
	wg.Wait()
}

// waitAllSettled waits until every accepted order is stored in a settled status.
// waitCancelsApplied waits until no order of ids, each of which was asked to cancel, reads
// confirmed: one the authorize step confirmed before its cancel applied is refunded next.
func waitCancelsApplied(t *testing.T, db *pgxpool.Pool, ids []string, within time.Duration) {
	t.Helper()
	waitFor(t, within, func() bool {
		var open int
		err := db.QueryRow(context.Background(), `SELECT count(*) FROM orders WHERE id = ANY($1::uuid[])
			AND status IN ('reserved', 'authorized', 'confirmed')`, ids).Scan(&open)
		return err == nil && open == 0
	})
}

func waitAllSettled(t *testing.T, db *pgxpool.Pool, ids []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var settled int
	for time.Now().Before(deadline) {
		err := db.QueryRow(context.Background(), `SELECT count(*) FROM orders WHERE id = ANY($1::uuid[])
			AND status IN ('confirmed', 'rejected', 'cancelled', 'refunded', 'expired', 'needs_attention')`, ids).Scan(&settled)
		if err != nil {
			t.Fatal(err)
		}
		if settled == len(ids) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("after %s: %d of %d orders settled; by status %v", within, settled, len(ids), countByStatus(t, db))
}

// checkSettledStock: nothing reserved once all orders settled, and the units that left on_hand
// are exactly the units of confirmed orders (refunded ones were restocked).
func checkSettledStock(t *testing.T, db *pgxpool.Pool, initial int) {
	t.Helper()
	var onHand, reserved, holds, confirmedUnits int
	err := db.QueryRow(context.Background(), `SELECT (SELECT sum(on_hand) FROM stock), (SELECT sum(reserved) FROM stock),
		(SELECT count(*) FROM reservations),
		(SELECT COALESCE(sum(l.quantity), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.status = 'confirmed')`).
		Scan(&onHand, &reserved, &holds, &confirmedUnits)
	if err != nil {
		t.Fatal(err)
	}
	if reserved != 0 || holds != 0 {
		t.Errorf("all orders settled, yet %d units and %d reservations are held", reserved, holds)
	}
	if initial-onHand != confirmedUnits {
		t.Errorf("%d units left on_hand, confirmed orders hold %d", initial-onHand, confirmedUnits)
	}
}

// checkGatewayRecord compares the simulated gateway's own record with the orders.
func checkGatewayRecord(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	var captures, refunds, confirmed, refunded, holdsLeft int
	err := db.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM gateway_sim_operations WHERE operation = 'capture' AND outcome = 'approved'),
		(SELECT count(*) FROM gateway_sim_operations WHERE operation = 'refund' AND outcome = 'approved'),
		(SELECT count(*) FROM orders WHERE status = 'confirmed'),
		(SELECT count(*) FROM orders WHERE status = 'refunded'),
		(SELECT count(*) FROM orders o WHERE o.status IN ('cancelled', 'expired')
			AND EXISTS (SELECT 1 FROM gateway_sim_operations g WHERE g.order_id = o.id::text AND g.operation = 'authorize' AND g.outcome = 'approved')
			AND NOT EXISTS (SELECT 1 FROM gateway_sim_operations g WHERE g.order_id = o.id::text AND g.operation IN ('void', 'refund') AND g.outcome = 'approved'))`).
		Scan(&captures, &refunds, &confirmed, &refunded, &holdsLeft)
	if err != nil {
		t.Fatal(err)
	}
	// (One capture per order is the gateway record's primary key; what can go wrong is a capture
	// without a sale or a hold left on an order that sold nothing.)
	if captures != confirmed+refunded || refunds != refunded || holdsLeft != 0 {
		t.Errorf("gateway: %d captures, %d refunds, %d cancelled or expired orders still held; orders: %d confirmed, %d refunded",
			captures, refunds, holdsLeft, confirmed, refunded)
	}
}
