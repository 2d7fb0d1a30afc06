package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// checkStockInvariants asserts guarantee 3 and the exactly-once effect of reservations:
// per SKU no negative availability, on_hand = available + reserved, the reserved units equal
// the reservations held, and those equal the lines of the orders holding stock: reserved or
// authorized, or parked in needs_attention from one of those (a parked order keeps its units
// until an operator settles it; one parked from confirmed holds none).
func checkStockInvariants(t testing.TB, db *pgxpool.Pool) {
	// holdsStock says whether order o holds reserved units.
	const holdsStock = `(o.status IN ('reserved', 'authorized') OR o.status = 'needs_attention' AND
		(SELECT h.status FROM order_history h WHERE h.order_id = o.id ORDER BY h.version DESC OFFSET 1 LIMIT 1) IN ('reserved', 'authorized'))`
	t.Helper()
	ctx := context.Background()
	rows, err := db.Query(ctx, `
		SELECT s.sku, s.on_hand, s.available, s.reserved,
		       COALESCE((SELECT sum(r.quantity) FROM reservations r WHERE r.sku = s.sku), 0),
		       COALESCE((SELECT sum(l.quantity) FROM order_lines l JOIN orders o ON o.id = l.order_id
		                 WHERE l.sku = s.sku AND `+holdsStock+`), 0)
		FROM stock s ORDER BY s.sku`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var sku string
		var onHand, available, reserved, held, ordered int64
		if err := rows.Scan(&sku, &onHand, &available, &reserved, &held, &ordered); err != nil {
			t.Fatal(err)
		}
		n++
		if available < 0 || onHand != available+reserved {
			t.Errorf("%s: on_hand %d, available %d, reserved %d", sku, onHand, available, reserved)
		}
		if reserved != held || reserved != ordered {
			t.Errorf("%s: stock.reserved %d, reservations %d, units of reserved orders %d", sku, reserved, held, ordered)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no stock rows to check")
	}
	var orphans int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM reservations r JOIN orders o ON o.id = r.order_id WHERE NOT `+holdsStock).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d reservations belong to orders that hold no stock", orphans)
	}
}

// countByStatus returns how many orders are in each status.
func countByStatus(t testing.TB, db *pgxpool.Pool) map[string]int {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT status, count(*) FROM orders GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		out[s] = n
	}
	return out
}
