package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/shopflow/orders/internal/testenv"
)

// TestCrashBetweenCaptureAndCommit: the simulated gateway records a capture and the process
// dies before the payment worker commits (SIM_GATEWAY_EXIT_AFTER_CAPTURES, the fault injection
// for exactly this window). After a restart the capture step runs again with the same
// idempotency key: the gateway's record shows one capture, replayed, and the order is
// confirmed with its stock committed once. The restart's sweeper drives the order left
// authorized (STUCK_AFTER), as it would for a capture message that was dead-lettered.
func TestCrashBetweenCaptureAndCommit(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dbURL := testenv.DatabaseURL(t)
	api, admin := freeAddr(t), freeAddr(t)
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "DATA_DIR="+t.TempDir(), "HTTP_ADDR="+api, "ADMIN_ADDR="+admin,
		"LOG_LEVEL=warn", "LOG_FORMAT=text", "ORDERS_BOOTSTRAP_KEYS="+testBootstrapKeys, "RATE_LIMIT=0", "DB_MAX_CONNS="+testDBMaxConns)
	logs := &syncBuffer{}
	first := startBinary(t, bin, append(env, "SIM_GATEWAY_EXIT_AFTER_CAPTURES=1"), admin, logs)
	c := newClient(api)
	c.setStock(t, "SKU-1", 10)
	id, res, err := c.placeOrder("crash", orderBody("c", line{SKU: "SKU-1", Quantity: 3, UnitPrice: 700}))
	if err != nil || id == "" {
		t.Fatalf("order: %v %d %s", err, res.status, res.body)
	}
	exited := make(chan error, 1)
	go func() { exited <- first.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("process ended with %v, want the injected exit 3 after the capture\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the process did not die after its first capture\n%s", logs.String())
	}
	db := connectDB(t, dbURL)
	var status string
	// The authorize step captures too: the crash rolled the whole step back, authorization
	// included (the gateway keeps both, under their idempotency keys).
	if err := db.QueryRow(context.Background(), `SELECT status FROM orders WHERE id = $1`, id).Scan(&status); err != nil || status != "reserved" {
		t.Fatalf("after the crash the order is %q (%v); want reserved: the step that captured must not have committed", status, err)
	}

	// The message in flight at the crash (stock.reserved) comes back after its AckWait (30 s),
	// and its step repeats both calls with the same keys.
	startBinary(t, bin, append(env, "STUCK_AFTER=1s", "SWEEP_INTERVAL=200ms"), admin, logs)
	waitAllSettled(t, db, []string{id}, 60*time.Second)
	var captures, replays, onHand, reserved int
	err = db.QueryRow(context.Background(), `SELECT count(*), COALESCE(sum(replays), 0) FROM gateway_sim_operations
		WHERE order_id = $1 AND operation = 'capture' AND outcome = 'approved'`, id).Scan(&captures, &replays)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(context.Background(), `SELECT on_hand, reserved FROM stock WHERE sku = 'SKU-1'`).Scan(&onHand, &reserved); err != nil {
		t.Fatal(err)
	}
	// The write side: the API answers from the projection, which may trail it by a moment.
	if err := db.QueryRow(context.Background(), `SELECT status FROM orders WHERE id = $1`, id).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if st := status; st != "confirmed" || captures != 1 || replays < 1 || onHand != 7 || reserved != 0 {
		t.Errorf("order %s, %d captures recorded (%d replays), stock on_hand %d reserved %d; want confirmed, 1 capture replayed, 7 and 0",
			st, captures, replays, onHand, reserved)
	}
}
