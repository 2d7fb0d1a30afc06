package httpapi_test

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
)

// FuzzPostOrder sends arbitrary bodies and content types to POST /v1/orders over real
// PostgreSQL and JetStream: the API must never panic nor answer 5xx, and every 4xx must be a
// problem document.
func FuzzPostOrder(f *testing.F) {
	for _, seed := range []string{
		validOrder, `{}`, `[]`, `null`, `{"lines":[{"sku":"A","quantity":1e400}]}`,
		`{"customer_id":"c","currency":"EUR","lines":[{"sku":"S","quantity":9223372036854775807,"unit_price":9223372036854775807}],"payment":{"token":"t"}}`,
		`{"customer_id":"\u0000","currency":"eur","lines":[],"payment":{}}`, `{"a":` + "\xff",
	} {
		f.Add([]byte(seed), "application/json")
	}
	f.Add([]byte(validOrder), "application/json; charset=utf-8")
	f.Add([]byte(validOrder), "text/plain")
	a := newApp(f)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		key := "fuzz-" + strconv.FormatInt(n.Add(1), 10)
		rec := a.do(t, http.MethodPost, "/v1/orders", string(body), "Content-Type", contentType, "Idempotency-Key", key)
		switch {
		case rec.Code >= 500:
			t.Fatalf("status %d for body %q (%q): %s", rec.Code, body, contentType, rec.Body)
		case rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json":
			t.Fatalf("status %d without a problem document: %q", rec.Code, rec.Header().Get("Content-Type"))
		case rec.Code != http.StatusAccepted && rec.Code < 400:
			t.Fatalf("status %d", rec.Code)
		}
	})
}
