package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/testenv"
)

// TestLogsCarryIDsAndNoSecrets runs at debug level with JSON logs: the worker's lines name the
// order and the correlation id, and no line holds an API key, a payment token or the database
// password, not even for a failed request.
func TestLogsCarryIDsAndNoSecrets(t *testing.T) {
	t.Parallel()
	// The test server trusts loopback, so the password is ignored, but it is in the URL the
	// process holds and must never be logged.
	dbURL := strings.Replace(testenv.DatabaseURL(t), "postgres@", "postgres:pw-never-logged-7391@", 1)
	natsAddr := freeAddr(t)
	in := startInstance(t, "run", map[string]string{"DATABASE_URL": dbURL, "DATA_DIR": t.TempDir(), "LOG_LEVEL": "debug",
		"LOG_FORMAT": "json", "NATS_LISTEN": natsAddr})
	// An undecodable command drives the error and dead-letter paths, which log the most.
	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish(events.SubjectPlaceOrder, []byte(`{"payment_token":"tok_secret_visa_4242"}`)); err != nil {
		t.Fatal(err)
	}
	c := newClient(in.api)
	c.setStock(t, "SKU-1", 5)
	body := orderBody("c-1", line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100})
	body["payment"] = map[string]string{"token": "tok_secret_visa_4242"}
	res, err := c.do(http.MethodPost, "/v1/orders", map[string]string{"Idempotency-Key": "k1", "X-Correlation-Id": "corr-logs-1"}, body)
	if err != nil || res.status != http.StatusAccepted {
		t.Fatalf("order: %v %d %s", err, res.status, res.body)
	}
	var acc struct{ ID string }
	_ = json.Unmarshal(res.body, &acc)
	waitSettled(t, connectDB(t, dbURL), []string{acc.ID}, 30*time.Second)
	_, _ = newClientWithKey(in.api, "ordk_wrong_key_000000000000000000000000000000").do(http.MethodGet, "/v1/orders/"+acc.ID, nil, nil)
	in.stop(t)

	var found bool
	sc := bufio.NewScanner(strings.NewReader(in.logs.String()))
	for sc.Scan() {
		line := sc.Text()
		for _, secret := range []string{"tok_secret_visa_4242", keyShopA, keyAdmin, keyShopB, "ordk_wrong_key", "pw-never-logged-7391"} {
			if strings.Contains(line, secret) {
				t.Errorf("log line holds a secret (%s…): %s", secret[:8], line)
			}
		}
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("not a JSON log line: %s", line)
			continue
		}
		if entry["msg"] == "order placed" && entry["order_id"] == acc.ID && entry["correlation_id"] == "corr-logs-1" {
			found = true
		}
	}
	if !found {
		t.Errorf("no \"order placed\" line with order_id %s and correlation_id corr-logs-1 in:\n%s", acc.ID, in.logs.String())
	}
}
