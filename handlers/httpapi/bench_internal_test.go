package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shopflow/orders/domain/order"
)

// BenchmarkDecodeAndValidateOrder measures the ingest's CPU work before any I/O: reading and
// checking the body, then the order rules.
func BenchmarkDecodeAndValidateOrder(b *testing.B) {
	const body = `{"customer_id":"c-42","currency":"EUR","lines":[{"sku":"SKU-1","quantity":2,"unit_price":1999},
		{"sku":"SKU-2","quantity":1,"unit_price":500},{"sku":"SKU-3","quantity":5,"unit_price":25}],"payment":{"token":"tok_visa"}}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/orders", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var req orderRequest
		if err := decodeJSON(httptest.NewRecorder(), r, &req); err != nil {
			b.Fatal(err)
		}
		if err := order.Validate(req.params("shop")); err != nil {
			b.Fatal(err)
		}
		_ = requestHash(req)
	}
}
