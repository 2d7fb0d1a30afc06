package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/orders/internal/testenv"
)

// waitProjected waits until the read side shows every order as the write side has it.
func waitProjected(t *testing.T, db *pgxpool.Pool, within time.Duration) {
	t.Helper()
	var orders, matching int
	waitFor(t, within, func() bool {
		err := db.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM orders),
			(SELECT count(*) FROM orders o JOIN proj_orders p ON p.id = o.id AND p.status = o.status AND p.version = o.version)`).
			Scan(&orders, &matching)
		return err == nil && orders > 0 && orders == matching
	})
}

// checkProjectionsAgreeWithOrders: counts per status, units held and revenue, as the read side
// tells them, equal what the write side holds.
func checkProjectionsAgreeWithOrders(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	var countsOff, heldOff, revenueOff int
	err := db.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM (SELECT status, count(*) AS n FROM orders GROUP BY status) w
			FULL JOIN (SELECT status, orders AS n FROM proj_status_counts WHERE orders <> 0) r USING (status) WHERE w.n IS DISTINCT FROM r.n),
		(SELECT count(*) FROM stock s FULL JOIN proj_stock p USING (sku) WHERE COALESCE(s.reserved, 0) <> COALESCE(p.reserved, 0)),
		(SELECT CASE WHEN (SELECT COALESCE(sum(revenue), 0) FROM proj_sales_daily) =
			(SELECT COALESCE(sum(total), 0) FROM orders WHERE status = 'confirmed') THEN 0 ELSE 1 END)`).Scan(&countsOff, &heldOff, &revenueOff)
	if err != nil {
		t.Fatal(err)
	}
	if countsOff+heldOff+revenueOff != 0 {
		t.Errorf("read side vs write side: %d statuses counted differently, %d SKUs with other reserved units, revenue differs: %v",
			countsOff, heldOff, revenueOff == 1)
	}
}

// rebuildAndCompare rebuilds the projections with the operator command and requires them equal,
// row for row, to the live ones it replaced.
func rebuildAndCompare(t *testing.T, db *pgxpool.Pool, dbURL string) {
	t.Helper()
	live := testenv.ProjectionRows(t, db)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"projections", "rebuild"}, func(k string) string {
		return map[string]string{"DATABASE_URL": dbURL}[k]
	}, &out, &out); err != nil {
		t.Fatalf("projections rebuild: %v\n%s", err, out.String())
	}
	testenv.SameProjections(t, "live", live, "rebuilt", testenv.ProjectionRows(t, db))
	if len(live["proj_orders"]) == 0 {
		t.Error("no projected orders to compare")
	}
}
