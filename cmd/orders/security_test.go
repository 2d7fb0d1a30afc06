package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopflow/orders/internal/testenv"
)

// TestTwoStorefrontsAreIsolated: each storefront reads its own orders; the other's answer 404,
// the same as an order that does not exist. Inventory is admin-only.
func TestTwoStorefrontsAreIsolated(t *testing.T) {
	t.Parallel()
	dbURL := testenv.DatabaseURL(t)
	in := startInstance(t, "run", map[string]string{"DATABASE_URL": dbURL, "DATA_DIR": t.TempDir()})
	a, b := newClientWithKey(in.api, keyShopA), newClientWithKey(in.api, keyShopB)
	a.setStock(t, "SKU-1", 10)
	body := orderBody("c-1", line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100})
	idA, _, errA := a.placeOrder("same-key", body)
	idB, _, errB := b.placeOrder("same-key", body) // the same Idempotency-Key: scoped per storefront
	if errA != nil || errB != nil || idA == "" || idB == "" || idA == idB {
		t.Fatalf("orders: %q %v, %q %v; want two distinct accepted orders", idA, errA, idB, errB)
	}
	waitSettled(t, connectDB(t, dbURL), []string{idA, idB}, 30*time.Second)
	for _, tc := range []struct {
		c    *client
		id   string
		want int
	}{{a, idA, 200}, {b, idB, 200}, {a, idB, 404}, {b, idA, 404}} {
		res, err := tc.c.do(http.MethodGet, "/v1/orders/"+tc.id, nil, nil)
		if err != nil || res.status != tc.want {
			t.Errorf("GET %s with %s…: %v %d, want %d", tc.id, tc.c.key[:16], err, res.status, tc.want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+in.api+"/v1/inventory/SKU-1", nil)
	req.Header.Set("Authorization", "Bearer "+keyShopA)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("storefront reading inventory: %v %v, want 403", err, res)
	} else {
		res.Body.Close()
	}
}

// TestAbuseLimits: a key over its rate gets 429 with Retry-After, a body over the limit 413,
// and a client that dribbles its headers is cut off.
func TestAbuseLimits(t *testing.T) {
	t.Parallel()
	in := startInstance(t, "run", map[string]string{"DATABASE_URL": testenv.DatabaseURL(t), "DATA_DIR": t.TempDir(),
		"RATE_LIMIT": "1", "RATE_BURST": "3", "HTTP_READ_HEADER_TIMEOUT": "300ms"})
	c := newClientWithKey(in.api, keyShopA)

	t.Run("rate limit", func(t *testing.T) {
		var last response
		for range 10 {
			res, err := c.do(http.MethodGet, "/v1/orders/0195a0c4-6c1e-7d2a-9b7e-000000000000", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			last = res
			if res.status == http.StatusTooManyRequests {
				break
			}
		}
		if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
			t.Fatalf("10 requests at once with rate 1/s burst 3: last %d, Retry-After %q; want 429 with Retry-After", last.status, last.header.Get("Retry-After"))
		}
	})
	t.Run("oversized body", func(t *testing.T) {
		big := map[string]any{"customer_id": strings.Repeat("x", 70<<10)}
		res, err := newClientWithKey(in.api, keyShopB).do(http.MethodPost, "/v1/orders", map[string]string{"Idempotency-Key": "big"}, big)
		if err != nil || res.status != http.StatusRequestEntityTooLarge {
			t.Errorf("70 KiB body: %v %d %s, want 413", err, res.status, res.body)
		}
	})
	t.Run("slow headers", func(t *testing.T) {
		conn, err := net.Dial("tcp", in.api)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("GET /v1/orders/x HTTP/1.1\r\nHost: orders\r\n")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 512)
		for {
			if _, err := conn.Read(buf); err != nil {
				break // the server closed the connection (or, failing the test below, the deadline hit)
			}
		}
		if waited := time.Since(start); waited > 5*time.Second {
			t.Errorf("connection with unfinished headers still open after %s; want it cut off after the 300ms header timeout", waited)
		}
	})
}

// TestKeysCommandAndHashedStorage creates, lists and revokes a key with the CLI, checks that
// the database holds only its hash, and that a revoked key is refused.
func TestKeysCommandAndHashedStorage(t *testing.T) {
	t.Parallel()
	dbURL := testenv.DatabaseURL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "DATA_DIR": t.TempDir(), "AUTH_CACHE_TTL": "0s"}
	getenv := func(k string) string { return env[k] }
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"migrate"}, getenv, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"keys", "create", "--role", "storefront", "--storefront", "shop-c"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("keys create: %v\n%s", err, errOut.String())
	}
	var id, key string
	for _, l := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(l, "id:"); ok {
			id = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(l, "key:"); ok {
			key = strings.TrimSpace(v)
		}
	}
	if id == "" || !strings.HasPrefix(key, "ordk_") || len(key) < 50 {
		t.Fatalf("keys create printed %q", out.String())
	}
	db := connectDB(t, dbURL)
	var plaintextRows int
	var hash []byte
	if err := db.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM api_keys k WHERE position($1 in k::text) > 0),
		(SELECT key_hash FROM api_keys WHERE id = $2)`, key, id).Scan(&plaintextRows, &hash); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(key))
	if plaintextRows != 0 || !bytes.Equal(hash, sum[:]) {
		t.Errorf("api_keys: %d rows hold the plaintext key; stored hash matches sha256: %v", plaintextRows, bytes.Equal(hash, sum[:]))
	}

	in := startInstance(t, "run", env)
	c := newClientWithKey(in.api, key)
	unknown := "/v1/orders/0195a0c4-6c1e-7d2a-9b7e-000000000000"
	if res, err := c.do(http.MethodGet, unknown, nil, nil); err != nil || res.status != http.StatusNotFound {
		t.Fatalf("new key: %v %d, want 404 (authenticated, no such order)", err, res.status)
	}
	out.Reset()
	if err := run(context.Background(), []string{"keys", "list"}, getenv, &out, &errOut); err != nil || !strings.Contains(out.String(), id) || strings.Contains(out.String(), key) {
		t.Errorf("keys list: %v\n%s; want the id and never the key", err, out.String())
	}
	if err := run(context.Background(), []string{"keys", "revoke", id}, getenv, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if res, err := c.do(http.MethodGet, unknown, nil, nil); err != nil || res.status != http.StatusUnauthorized {
		t.Errorf("revoked key: %v %d, want 401", err, res.status)
	}
	if err := run(context.Background(), []string{"keys", "revoke", "nope"}, getenv, &out, &errOut); err == nil {
		t.Error("revoking an unknown id succeeded")
	}
	if err := run(context.Background(), []string{"keys", "create", "--role", "root"}, getenv, &out, &errOut); exitCode(err) != 2 {
		t.Errorf("keys create --role root: %v, want a usage error (exit 2)", err)
	}
}
