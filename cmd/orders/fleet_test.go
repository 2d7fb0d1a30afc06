package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopflow/orders/internal/testenv"
)

// TestFleetOnExternalNATS runs the pieces as a fleet would: an external nats-server (the
// machine's own binary, a separate process), one `orders api` and two `orders worker`
// processes sharing the durable consumer. Every order is processed exactly once.
func TestFleetOnExternalNATS(t *testing.T) {
	t.Parallel()
	natsURL := startNATSServer(t)
	dbURL := testenv.DatabaseURL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "NATS_URL": natsURL}
	api := startInstance(t, "api", env)
	startInstance(t, "worker", env)
	startInstance(t, "worker", env)

	c := newClient(api.api)
	for i := range 4 {
		c.setStock(t, fmt.Sprintf("SKU-%d", i), 50)
	}
	bodies := make([]map[string]any, 200)
	for i := range bodies {
		bodies[i] = orderBody(fmt.Sprintf("c-%d", i), line{SKU: fmt.Sprintf("SKU-%d", i%4), Quantity: 1 + i%2, UnitPrice: 250})
	}
	ids := postAll(t, c, bodies, 16)
	db := connectDB(t, dbURL)
	waitAllSettled(t, db, ids, 60*time.Second)
	checkStockInvariants(t, db)
	checkGatewayRecord(t, db)
	var orders, inbox int
	if err := db.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM inbox WHERE consumer = 'inventory-place-order')`).Scan(&orders, &inbox); err != nil {
		t.Fatal(err)
	}
	if orders != len(bodies) || inbox != len(bodies) {
		t.Errorf("%d orders and %d inbox rows for %d accepted", orders, inbox, len(bodies))
	}
}

// startNATSServer starts the nats-server binary on PATH (or /usr/sbin) with JetStream on a
// random port. It fails the test when the binary is missing: .ci/run installs it.
func startNATSServer(t *testing.T, extra ...string) string {
	t.Helper()
	n := newNATSServer(t, extra...)
	n.start(t)
	return n.url()
}

// TestExternalNATSWithCredentials connects to a server that requires a user and password,
// the password read from NATS_PASSWORD_FILE; without credentials the process refuses to start
// with an error that names NATS.
func TestExternalNATSWithCredentials(t *testing.T) {
	t.Parallel()
	natsURL := startNATSServer(t, "--user", "orders", "--pass", "s3cret-for-tests")
	dbURL := testenv.DatabaseURL(t)
	pwFile := filepath.Join(t.TempDir(), "nats-password")
	if err := os.WriteFile(pwFile, []byte("s3cret-for-tests\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startInstance(t, "run", map[string]string{"DATABASE_URL": dbURL, "NATS_URL": natsURL,
		"NATS_USER": "orders", "NATS_PASSWORD_FILE": pwFile})
	c := newClient(in.api)
	c.setStock(t, "SKU-1", 1)
	id, res, err := c.placeOrder("k", orderBody("c", line{SKU: "SKU-1", Quantity: 1, UnitPrice: 1}))
	if err != nil || id == "" {
		t.Fatalf("order: %v %d %s", err, res.status, res.body)
	}
	waitSettled(t, connectDB(t, dbURL), []string{id}, 30*time.Second)

	logs := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = run(ctx, []string{"run"}, func(k string) string {
		return map[string]string{"DATABASE_URL": dbURL, "NATS_URL": natsURL, "HTTP_ADDR": freeAddr(t), "ADMIN_ADDR": freeAddr(t)}[k]
	}, logs, logs)
	if err == nil || !strings.Contains(err.Error(), "nats") {
		t.Errorf("without credentials: %v; want an error naming nats", err)
	}
}
