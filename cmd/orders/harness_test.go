package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/orders/internal/postgres"
)

// instance is one `orders` process run in-process by run(), as main would.
type instance struct {
	api, admin string
	cancel     context.CancelFunc
	done       chan error
	logs       *syncBuffer
}

// startInstance runs `orders <cmd>` with env (on top of free loopback ports for the API and
// admin servers), waits until /readyz answers 200, and stops it at cleanup, failing the test
// unless it exits cleanly.
func startInstance(t *testing.T, cmd string, env map[string]string) *instance {
	t.Helper()
	in := &instance{api: freeAddr(t), admin: freeAddr(t), done: make(chan error, 1), logs: &syncBuffer{}}
	full := map[string]string{"HTTP_ADDR": in.api, "ADMIN_ADDR": in.admin, "LOG_FORMAT": "text", "LOG_LEVEL": "warn",
		"ORDERS_BOOTSTRAP_KEYS": testBootstrapKeys, "RATE_LIMIT": "0",
		// Tests run side by side on one PostgreSQL (max_connections 100 by default).
		"DB_MAX_CONNS": testDBMaxConns}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go func() { in.done <- run(ctx, []string{cmd}, func(k string) string { return full[k] }, in.logs, in.logs) }()
	t.Cleanup(func() { in.stop(t) })
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-in.done:
			in.done <- err
			t.Fatalf("orders %s exited at start: %v\n%s", cmd, err, in.logs.String())
		default:
		}
		if res, err := http.Get("http://" + in.admin + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return in
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("orders %s not ready within 60s\n%s", cmd, in.logs.String())
	return nil
}

// stop cancels the context (as SIGTERM does) and requires a clean exit within 30s.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	if in.cancel == nil {
		return
	}
	in.cancel()
	in.cancel = nil
	select {
	case err := <-in.done:
		if err != nil {
			t.Errorf("orders exited with %v\n%s", err, in.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("orders did not stop within 30s\n%s", in.logs.String())
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testDBMaxConns keeps each test process's pool small: several run at once on one server.
const testDBMaxConns = "12"

// Keys every test instance bootstraps: storefront "shop-a", storefront "shop-b", an admin.
const (
	keyShopA          = "ordk_test_shop_a_0000000000000000000000000000000"
	keyShopB          = "ordk_test_shop_b_0000000000000000000000000000000"
	keyAdmin          = "ordk_test_admin_00000000000000000000000000000000"
	testBootstrapKeys = "storefront:shop-a:" + keyShopA + ",storefront:shop-b:" + keyShopB + ",admin::" + keyAdmin
)

// client is a storefront talking to one API address with its key; inventory calls use the
// admin key.
type client struct {
	base string
	key  string
	http *http.Client
}

func newClient(addr string) *client { return newClientWithKey(addr, keyShopA) }

func newClientWithKey(addr, key string) *client {
	return &client{base: "http://" + addr, key: key, http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (c *client) do(method, path string, headers map[string]string, body any) (response, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	if strings.HasPrefix(path, "/v1/inventory") {
		req.Header.Set("Authorization", "Bearer "+keyAdmin)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}, err
}

func (c *client) setStock(t testing.TB, sku string, onHand int) {
	t.Helper()
	res, err := c.do(http.MethodPut, "/v1/inventory/"+sku, nil, map[string]int{"on_hand": onHand})
	if err != nil || res.status != http.StatusOK {
		t.Fatalf("set stock %s: %v %d %s", sku, err, res.status, res.body)
	}
}

type line struct {
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"`
	UnitPrice int    `json:"unit_price"`
}

func orderBody(customer string, lines ...line) map[string]any {
	return map[string]any{"customer_id": customer, "currency": "EUR", "lines": lines, "payment": map[string]string{"token": "tok_visa"}}
}

// placeOrder posts an order and returns the accepted order id ("" when not accepted).
func (c *client) placeOrder(key string, body map[string]any) (string, response, error) {
	res, err := c.do(http.MethodPost, "/v1/orders", map[string]string{"Idempotency-Key": key}, body)
	if err != nil || res.status != http.StatusAccepted {
		return "", res, err
	}
	var acc struct{ ID string }
	if err := json.Unmarshal(res.body, &acc); err != nil {
		return "", res, fmt.Errorf("decode 202 body %q: %w", res.body, err)
	}
	return acc.ID, res, nil
}

// placeOrderRetrying posts an order as a storefront should: a 503 (JetStream could not take
// the command in time, e.g. on a machine busy with the whole suite) is retried with the same
// Idempotency-Key after its Retry-After, for up to a minute.
func (c *client) placeOrderRetrying(key string, body map[string]any) (string, response, error) {
	for deadline := time.Now().Add(time.Minute); ; {
		id, res, err := c.placeOrder(key, body)
		if err != nil || res.status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return id, res, err
		}
		wait, perr := strconv.Atoi(res.header.Get("Retry-After"))
		if perr != nil || wait < 1 {
			wait = 1
		}
		time.Sleep(time.Duration(wait) * time.Second)
	}
}

func connectDB(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// waitSettled waits until every id in want is in the orders table and none is pending.
func waitSettled(t testing.TB, db *pgxpool.Pool, want []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var found, pending int
	for time.Now().Before(deadline) {
		err := db.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE status = 'pending')
			FROM orders WHERE id = ANY($1::uuid[])`, want).Scan(&found, &pending)
		if err != nil {
			t.Fatal(err)
		}
		if found == len(want) && pending == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("after %s: %d of %d accepted orders stored, %d pending", within, found, len(want), pending)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
