package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/webhook"
	"github.com/shopflow/orders/internal/testenv"
)

// hookReceiver is a storefront's webhook receiver: down (503) until up is set, then it
// verifies each delivery's signature and records which order versions it got.
type hookReceiver struct {
	srv     *httptest.Server
	secret  atomic.Value // string
	up      atomic.Bool
	mu      sync.Mutex
	got     map[string]map[int]string // order → version → event type
	answers int
	bad     []string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{got: map[string]map[int]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if !r.up.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var d struct {
		Type string
		Data struct {
			ID      string
			Version int
		}
	}
	err := webhook.Verify(r.secret.Load().(string), req.Header, body, time.Now(), 5*time.Minute)
	if err == nil {
		err = json.Unmarshal(body, &d)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers++
	if err != nil {
		r.bad = append(r.bad, err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.got[d.Data.ID] == nil {
		r.got[d.Data.ID] = map[int]string{}
	}
	r.got[d.Data.ID][d.Data.Version] = d.Type
	w.WriteHeader(http.StatusNoContent)
}

// TestWebhooksSurviveReceiverOutageAndSIGKILL: a receiver that is down while a burst of
// orders settles gets, once it is back, every status of every order, signed, even though
// the process is SIGKILLed while delivering and started again on the same data.
func TestWebhooksSurviveReceiverOutageAndSIGKILL(t *testing.T) {
	t.Parallel()
	const orders = 200
	bin := buildBinary(t)
	dbURL := testenv.DatabaseURL(t)
	api, admin, natsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "DATA_DIR="+t.TempDir(), "HTTP_ADDR="+api,
		"ADMIN_ADDR="+admin, "NATS_LISTEN="+natsAddr, "LOG_LEVEL=warn", "LOG_FORMAT=text",
		"ORDERS_BOOTSTRAP_KEYS="+testBootstrapKeys, "RATE_LIMIT=0", "DB_MAX_CONNS="+testDBMaxConns,
		"WEBHOOK_ALLOW_INSECURE=true", "WEBHOOK_ALLOW_PRIVATE=true",
		"WEBHOOK_RETRY_SCHEDULE=100ms,200ms,500ms"+strings.Repeat(",1s", 120))
	logs := &syncBuffer{}
	first := startBinary(t, bin, env, admin, logs)
	c := newClient(api)
	rcv := newHookReceiver(t)

	res, err := c.do(http.MethodPost, "/v1/webhooks", nil, map[string]any{"url": rcv.srv.URL + "/hooks"})
	if err != nil || res.status != http.StatusCreated {
		t.Fatalf("register: %v %d %s", err, res.status, res.body)
	}
	var created struct{ ID, Secret string }
	if err := json.Unmarshal(res.body, &created); err != nil {
		t.Fatal(err)
	}
	rcv.secret.Store(created.Secret)

	// Scarce stock on one SKU: some orders are rejected, the rest confirmed.
	c.setStock(t, "SKU-1", 10*orders)
	c.setStock(t, "SKU-R", 20)
	ids := make([]string, 0, orders)
	for i := range orders {
		sku := "SKU-1"
		if i%5 == 0 {
			sku = "SKU-R"
		}
		id, res, err := c.placeOrder(fmt.Sprintf("hook-%d", i), orderBody(fmt.Sprintf("c-%d", i), line{SKU: sku, Quantity: 2, UnitPrice: 100}))
		if id == "" {
			t.Fatalf("order %d: %v %d %s", i, err, res.status, res.body)
		}
		ids = append(ids, id)
	}
	db := connectDB(t, dbURL)
	waitAllSettled(t, db, ids, 120*time.Second)

	rcv.up.Store(true)
	// A liveness bound, not a speed one: alone this takes seconds, but with the rest of the
	// package's process tests beside it on two cores it once took over a minute.
	waitFor(t, 120*time.Second, func() bool { rcv.mu.Lock(); defer rcv.mu.Unlock(); return rcv.answers >= orders/2 })
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	rcv.mu.Lock()
	t.Logf("SIGKILL after %d deliveries", rcv.answers)
	rcv.mu.Unlock()
	startBinary(t, bin, env, admin, logs)

	// Every status each order entered after pending, as the database holds them.
	want := map[string]map[int]string{}
	rows, err := db.Query(context.Background(), `SELECT order_id::text, version, status FROM order_history
		WHERE order_id = ANY($1::uuid[]) AND version > 1`, ids)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, status string
		var v int
		if err := rows.Scan(&id, &v, &status); err != nil {
			t.Fatal(err)
		}
		if want[id] == nil {
			want[id] = map[int]string{}
		}
		want[id][v] = "order." + status
	}
	rows.Close()
	missing := func() int {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		n := 0
		for id, versions := range want {
			for v, typ := range versions {
				if rcv.got[id][v] != typ {
					n++
				}
			}
		}
		return n
	}
	deadline := time.Now().Add(120 * time.Second)
	for missing() > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if n := missing(); n > 0 {
		t.Fatalf("%d order statuses never reached the receiver\n%s", n, logs.String())
	}
	// An attempt answered just before the SIGKILL is recorded only when it goes again, after
	// its claim lapses (at least once): the log ends with every delivery delivered.
	waitFor(t, 90*time.Second, func() bool {
		var undelivered int
		err := db.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'`).Scan(&undelivered)
		return err == nil && undelivered == 0
	})
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.bad) > 0 {
		t.Errorf("%d deliveries did not verify, first: %s", len(rcv.bad), rcv.bad[0])
	}
}
