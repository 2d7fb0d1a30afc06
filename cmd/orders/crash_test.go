package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/testenv"
)

// TestSIGKILLDuringLoad kills the real binary with SIGKILL while storefronts post orders,
// restarts it on the same data, and checks guarantees 1 and 4: every order that got a 202
// exists and settles, and its effects happened once (reservations, inbox, events).
func TestSIGKILLDuringLoad(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dbURL := testenv.DatabaseURL(t)
	api, admin, natsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "DATA_DIR="+t.TempDir(), "HTTP_ADDR="+api,
		"ADMIN_ADDR="+admin, "NATS_LISTEN="+natsAddr, "LOG_LEVEL=warn", "LOG_FORMAT=text",
		"ORDERS_BOOTSTRAP_KEYS="+testBootstrapKeys, "RATE_LIMIT=0", "DB_MAX_CONNS="+testDBMaxConns)
	logs := &syncBuffer{}

	first := startBinary(t, bin, env, admin, logs)
	c := newClient(api)
	for i := range 10 {
		c.setStock(t, fmt.Sprintf("SKU-%d", i), 60)
	}
	var mu sync.Mutex
	var accepted []string
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := sent.Add(1)
				body := orderBody(fmt.Sprintf("c-%d", n), line{SKU: fmt.Sprintf("SKU-%d", (w+i)%10), Quantity: 1 + i%3, UnitPrice: 500})
				id, _, _ := c.placeOrder(fmt.Sprintf("w%d-%d", w, i), body) // errors expected while killed
				if id != "" {
					mu.Lock()
					accepted = append(accepted, id)
					mu.Unlock()
				}
			}
		}()
	}
	waitFor(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(accepted) >= 300 })
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("killed after %d requests, %d accepted", sent.Load(), len(accepted))

	startBinary(t, bin, env, admin, logs)
	db := connectDB(t, dbURL)
	waitAllSettled(t, db, accepted, 90*time.Second)
	checkStockInvariants(t, db)
	checkOncePerOrder(t, db, natsAddr)
}

// checkOncePerOrder: one intake inbox row per order, an empty outbox, and exactly one event
// per transition in the events stream (an order at version n emitted n events), however
// often the relay published them around the crash.
func checkOncePerOrder(t *testing.T, db *pgxpool.Pool, natsAddr string) {
	t.Helper()
	ctx := context.Background()
	var orders, inbox, outbox int
	var transitions int
	err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM inbox WHERE consumer = 'inventory-place-order'),
		(SELECT count(*) FROM outbox), (SELECT sum(version) FROM orders)`).Scan(&orders, &inbox, &outbox, &transitions)
	if err != nil {
		t.Fatal(err)
	}
	if inbox != orders {
		t.Errorf("inbox holds %d messages for %d orders", inbox, orders)
	}
	js := testenv.Connect(t, "nats://"+natsAddr)
	var stored uint64
	waitFor(t, 30*time.Second, func() bool {
		if err := db.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&outbox); err != nil || outbox != 0 {
			return false
		}
		st, err := js.Stream(ctx, events.StreamEvents)
		if err != nil {
			return false
		}
		stored = st.CachedInfo().State.Msgs
		return stored >= uint64(transitions)
	})
	if stored != uint64(transitions) {
		t.Errorf("events stream holds %d events for %d transitions of %d orders", stored, transitions, orders)
	}
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "orders")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startBinary starts `orders run` and waits for /readyz; the process is killed at cleanup.
func startBinary(t *testing.T, bin string, env []string, admin string, logs *syncBuffer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "run")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, 60*time.Second, func() bool {
		res, err := http.Get("http://" + admin + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return cmd
}

func waitFor(t *testing.T, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
