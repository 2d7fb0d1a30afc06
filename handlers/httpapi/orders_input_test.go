package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestPostOrderBadInput(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	const json = "application/json"
	hundredOne := func(m map[string]any) {
		lines := make([]any, 101)
		for i := range lines {
			lines[i] = map[string]any{"sku": fmt.Sprintf("SKU-%d", i), "quantity": 1, "unit_price": 1}
		}
		m["lines"] = lines
	}
	tests := []struct {
		name        string
		body        string
		contentType string
		key         string
		status      int
		field       string
	}{
		{"malformed JSON", `{"customer_id" "c-42"}`, json, "k", 400, "body"},
		{"JSON cut short", `{"customer_id":`, json, "k", 400, "body"},
		{"empty body", ``, json, "k", 400, "body"},
		{"not an object", `[1,2]`, json, "k", 400, "body"},
		{"unknown field", orderBody(t, func(m map[string]any) { m["coupon"] = "FREE" }), json, "k", 400, "coupon"},
		{"wrong type", orderBody(t, func(m map[string]any) { line(m, 0)["quantity"] = "2" }), json, "k", 400, "lines[0].quantity"},
		{"wrong type in the second line", orderBody(t, func(m map[string]any) { line(m, 1)["sku"] = map[string]any{"a": 1} }), json, "k", 400, "lines[1].sku"},
		{"wrong type of a line", orderBody(t, func(m map[string]any) { m["lines"] = []any{line(m, 0), 7} }), json, "k", 400, "lines[1]"},
		{"wrong type in an object", orderBody(t, func(m map[string]any) { m["payment"] = map[string]any{"token": 7} }), json, "k", 400, "payment.token"},
		{"wrong type at the top", orderBody(t, func(m map[string]any) { m["lines"] = "SKU-1" }), json, "k", 400, "lines"},
		{"missing customer_id", orderBody(t, func(m map[string]any) { delete(m, "customer_id") }), json, "k", 422, "customer_id"},
		{"oversized customer_id", orderBody(t, func(m map[string]any) { m["customer_id"] = strings.Repeat("c", 65) }), json, "k", 422, "customer_id"},
		{"quantity 0", orderBody(t, func(m map[string]any) { line(m, 0)["quantity"] = 0 }), json, "k", 422, "lines[0].quantity"},
		{"quantity -5", orderBody(t, func(m map[string]any) { line(m, 0)["quantity"] = -5 }), json, "k", 422, "lines[0].quantity"},
		{"quantity 1000000", orderBody(t, func(m map[string]any) { line(m, 0)["quantity"] = 1_000_000 }), json, "k", 422, "lines[0].quantity"},
		{"unit_price negative", orderBody(t, func(m map[string]any) { line(m, 1)["unit_price"] = -1 }), json, "k", 422, "lines[1].unit_price"},
		{"total 0", orderBody(t, func(m map[string]any) { line(m, 0)["unit_price"], line(m, 1)["unit_price"] = 0, 0 }), json, "k", 422, "lines"},
		{"bad sku", orderBody(t, func(m map[string]any) { line(m, 1)["sku"] = "SKU 2" }), json, "k", 422, "lines[1].sku"},
		{"unknown currency", orderBody(t, func(m map[string]any) { m["currency"] = "XYZ" }), json, "k", 422, "currency"},
		{"missing payment token", orderBody(t, func(m map[string]any) { delete(m, "payment") }), json, "k", 422, "payment.token"},
		{"101 lines", orderBody(t, hundredOne), json, "k", 422, "lines"},
		{"missing Idempotency-Key", validOrder, json, "", 400, "Idempotency-Key"},
		{"Idempotency-Key with a space", validOrder, json, "my key", 400, "Idempotency-Key"},
		{"oversized Idempotency-Key", validOrder, json, strings.Repeat("k", 256), 400, "Idempotency-Key"},
		{"wrong content type", validOrder, "text/plain", "k", 415, "Content-Type"},
		{"no content type", validOrder, "", "k", 415, "Content-Type"},
		{"body over 64 KiB", orderBody(t, func(m map[string]any) { m["customer_id"] = strings.Repeat("c", 64<<10) }), json, "k", 413, "body"},
		{"two JSON objects", validOrder + validOrder, json, "k", 400, "body"},
		{"trailing garbage", validOrder + " x", json, "k", 400, "body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var headers []string
			if tc.contentType != "" {
				headers = append(headers, "Content-Type", tc.contentType)
			}
			if tc.key != "" {
				headers = append(headers, "Idempotency-Key", tc.key)
			}
			rec := a.do(t, http.MethodPost, "/v1/orders", tc.body, headers...)
			checkProblem(t, rec, tc.status, tc.field)
		})
	}
	t.Cleanup(func() {
		if n := a.commands(t); n != 0 {
			t.Errorf("bad input stored %d commands, want 0", n)
		}
	})
}

func TestPostOrderSeveralErrorsAtOnce(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	body := orderBody(t, func(m map[string]any) {
		m["currency"] = "eur"
		delete(m, "customer_id")
		line(m, 1)["quantity"] = 0
	})
	p := checkProblem(t, a.postOrder(t, "several", body), http.StatusUnprocessableEntity, "")
	want := []string{"customer_id", "currency", "lines[1].quantity"}
	if got := p.fields(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("fields = %q, want %q", got, want)
	}
}
