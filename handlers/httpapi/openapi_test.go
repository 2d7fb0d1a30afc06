package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/handlers/httpapi"
)

// The tests in this file hold the API to openapi.yaml: each serves real requests through the
// API (over PostgreSQL and JetStream, see helpers_test.go) and validates every answer, status,
// headers and body, against the document with kin-openapi, and every request the document calls
// valid against it too. openapi.yaml is an OpenAPI 3.1.0 document: kin-openapi (v0.152.0) loads
// it as such and openapi3filter validates its schemas with a JSON Schema 2020-12 validator, so
// `const` and `not` are checked as written. Its one gap: it leaves format uuid unchecked unless
// told (see options).

// spec is the loaded document and a router over its paths.
type spec struct {
	doc    *openapi3.T
	router routers.Router
}

// served is the document as OpenAPIHandler serves it.
func served() *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	httpapi.OpenAPIHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	return rec
}

// loadSpec loads and validates the served document once; the result is only read afterwards.
var loadSpec = sync.OnceValues(func() (*spec, error) {
	return parseSpec(served().Body.Bytes())
})

func parseSpec(data []byte) (*spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	err = doc.Validate(loader.Context, openapi3.EnableMultiError(), openapi3.EnableExamplesValidation(),
		openapi3.EnableSchemaPatternValidation(), openapi3.EnableSchemaDefaultsValidation())
	if err != nil {
		return nil, fmt.Errorf("validate openapi.yaml: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("router over openapi.yaml: %w", err)
	}
	return &spec{doc: doc, router: router}, nil
}

func openSpec(t testing.TB) *spec {
	t.Helper()
	s, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// options are those of every validation: an undocumented status fails, formats are checked
// (uuid too, which kin-openapi leaves out by default: order ids are version 7, so RFC 9562),
// and a request passes the security requirement with any Bearer key (the API decides the rest).
func (s *spec) options() *openapi3filter.Options {
	return &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc:    bearerPresent,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			openapi3.EnableFormatValidation(),
			openapi3.WithStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562)),
		},
	}
}

func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecurityScheme == nil || in.SecurityScheme.Type != "http" || !strings.EqualFold(in.SecurityScheme.Scheme, "bearer") {
		return fmt.Errorf("security scheme %q is not HTTP bearer", in.SecuritySchemeName)
	}
	scheme, key, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return errors.New("no Authorization: Bearer <key>")
	}
	return nil
}

// check validates rec, the answer to req, against the document, and req too when validRequest.
// req must be unread (the validation reads its body).
func (s *spec) check(t testing.TB, req *http.Request, rec *httptest.ResponseRecorder, validRequest bool) {
	t.Helper()
	ctx := context.Background()
	name := req.Method + " " + req.URL.RequestURI()
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		t.Errorf("%s: no operation in openapi.yaml: %v", name, err)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: s.options()}
	if validRequest {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Errorf("%s: the request does not match openapi.yaml: %v", name, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(), Options: s.options()}
	out.SetBodyBytes(rec.Body.Bytes())
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("%s → %d does not match openapi.yaml: %v\nheaders: %v\nbody: %s", name, rec.Code, err, rec.Header(), rec.Body)
	}
}

// call serves a request the document calls valid through a.do, and validates the request and
// the answer. Arguments are a.do's.
func (s *spec) call(t testing.TB, a *app, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	return s.exchange(t, a, true, method, path, body, headers...)
}

// callBad serves a request that breaks the document (bad input, no key), and validates the
// answer only.
func (s *spec) callBad(t testing.TB, a *app, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	return s.exchange(t, a, false, method, path, body, headers...)
}

func (s *spec) exchange(t testing.TB, a *app, validRequest bool, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	rec := a.do(t, method, path, body, headers...)
	s.check(t, newRequest(method, path, body, headers...), rec, validRequest)
	return rec
}

const jsonCT = "application/json"

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	s := openSpec(t)
	if s.doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", s.doc.OpenAPI)
	}
	for path, item := range s.doc.Paths.Map() {
		for method, op := range item.Operations() {
			security := s.doc.Security
			if op.Security != nil {
				security = *op.Security
			}
			wantKey := strings.HasPrefix(path, "/v1/")
			hasKey := slices.ContainsFunc(security, func(r openapi3.SecurityRequirement) bool { _, ok := r["apiKey"]; return ok })
			if hasKey != wantKey {
				t.Errorf("%s %s: API key required = %v, want %v", method, path, hasKey, wantKey)
			}
			if wantKey && (op.Responses.Status(401) == nil || op.Responses.Status(429) == nil || op.Responses.Status(503) == nil) {
				t.Errorf("%s %s: every /v1 route can answer 401, 429 and 503", method, path)
			}
		}
	}

	// The validation is not vacuous: answers the code must never give fail it.
	t.Run("the validator rejects wrong answers", func(t *testing.T) {
		tests := []struct {
			name, method, path string
			status             int
			contentType, body  string
		}{
			{"unknown field", "GET", "/v1/inventory/SKU-1", 200, jsonCT, `{"sku":"SKU-1","on_hand":1,"reserved":0,"available":1,"extra":1}`},
			{"missing field", "GET", "/v1/inventory/SKU-1", 200, jsonCT, `{"sku":"SKU-1","on_hand":1,"reserved":0}`},
			{"undocumented status", "GET", "/v1/inventory/SKU-1", 418, "application/problem+json", `{"type":"about:blank","title":"I'm a teapot","status":418,"detail":"no"}`},
			{"status not the HTTP status", "GET", "/v1/inventory/SKU-1", 404, "application/problem+json", `{"type":"about:blank","title":"Not Found","status":400,"detail":"no"}`},
			{"problem as application/json", "GET", "/v1/inventory/SKU-1", 404, jsonCT, `{"type":"about:blank","title":"Not Found","status":404,"detail":"no"}`},
			{"422 without errors", "PUT", "/v1/inventory/SKU-1", 422, "application/problem+json", `{"type":"about:blank","title":"Unprocessable Entity","status":422,"detail":"no"}`},
			{"not a uuid", "GET", "/v1/orders/0195a0c4-6c1e-7d2a-9b7e-3f1d2c4b5a69", 200, jsonCT, `{"id":"x","status":"reserved","customer_id":"c","currency":"EUR","total":1,
				"lines":[{"sku":"S","quantity":1,"unit_price":1}],"history":[{"version":1,"status":"pending","at":"2026-01-02T03:04:05Z"}],"accepted_at":"2026-01-02T03:04:05Z"}`},
			{"unknown status", "POST", "/v1/orders/0195a0c4-6c1e-7d2a-9b7e-3f1d2c4b5a69/cancel", 202, jsonCT, `{"id":"0195a0c4-6c1e-7d2a-9b7e-3f1d2c4b5a69","status":"shipped"}`},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				req := httptest.NewRequest(tc.method, tc.path, nil)
				route, params, err := s.router.FindRoute(req)
				if err != nil {
					t.Fatal(err)
				}
				in := &openapi3filter.ResponseValidationInput{
					RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: s.options()},
					Status:                 tc.status,
					Header:                 http.Header{"Content-Type": {tc.contentType}, "X-Content-Type-Options": {"nosniff"}},
					Options:                s.options(),
				}
				in.SetBodyBytes([]byte(tc.body))
				if err := openapi3filter.ValidateResponse(context.Background(), in); err == nil {
					t.Errorf("%d %s passed", tc.status, tc.body)
				}
			})
		}
	})
}

func TestOpenAPIServesDocument(t *testing.T) {
	t.Parallel()
	s := openSpec(t)
	file, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rec := served()
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/yaml" || rec.Body.String() != string(file) {
		t.Errorf("GET /openapi.yaml = %d %q, %d bytes; want 200 application/yaml with openapi.yaml", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
	s.check(t, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil), served(), true)

	// The API's mux serves it without a key.
	a := newApp(t)
	rec = a.do(t, http.MethodGet, "/openapi.yaml", "", "Authorization", "")
	s.check(t, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil), rec, true)
	if rec.Body.String() != string(file) {
		t.Errorf("the API mux serves another document at /openapi.yaml")
	}
}

// TestOpenAPICoversRouteTable: every route the API registers is in the document, which says 403
// exactly for the routes some role may not use.
func TestOpenAPICoversRouteTable(t *testing.T) {
	t.Parallel()
	s := openSpec(t)
	a := newApp(t)
	for _, rt := range a.api.RouteTable() {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		item := s.doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("%s is not in openapi.yaml", rt.Pattern)
			continue
		}
		op := item.GetOperation(method)
		everyRole := slices.Contains(rt.Roles, access.RoleStorefront) && slices.Contains(rt.Roles, access.RoleAdmin)
		if has403 := op.Responses.Status(http.StatusForbidden) != nil; has403 == everyRole {
			t.Errorf("%s: 403 documented = %v, but roles are %v", rt.Pattern, has403, rt.Roles)
		}
	}
}

func TestOpenAPIOrders(t *testing.T) {
	t.Parallel()
	s := openSpec(t)
	a := newApp(t)
	putStock(t, a, "SKU-1", 10)
	own, others := "0195a0c4-6c1e-7d2a-9b7e-0000000a0001", "0195a0c4-6c1e-7d2a-9b7e-0000000a0002"
	settled := "0195a0c4-6c1e-7d2a-9b7e-0000000a0003"
	placeOrder(t, a, own, order.Line{SKU: "SKU-1", Quantity: 2, UnitPrice: 1999})
	placeOrderFor(t, a, "other-shop", others, order.Line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100})
	placeOrder(t, a, settled, order.Line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100})
	if _, err := a.store.UpdateOrder(context.Background(), events.Unsolicited("corr"), settled, func(o *order.Order) error {
		return o.Cancel("test", time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	admin := []string{"Authorization", "Bearer " + adminKey}

	t.Run("place", func(t *testing.T) {
		rec := s.call(t, a, "POST", "/v1/orders", validOrder, "Content-Type", jsonCT, "Idempotency-Key", "oa-1", "X-Correlation-Id", "corr-1")
		checkAccepted(t, rec.Code, rec.Header(), rec.Body.Bytes())
		replay := s.call(t, a, "POST", "/v1/orders", validOrder, "Content-Type", jsonCT+"; charset=utf-8", "Idempotency-Key", "oa-1")
		checkAccepted(t, replay.Code, replay.Header(), replay.Body.Bytes())
		reused := s.call(t, a, "POST", "/v1/orders", orderBody(t, func(m map[string]any) { m["customer_id"] = "c-43" }),
			"Content-Type", jsonCT, "Idempotency-Key", "oa-1")
		checkProblem(t, reused, 422, "Idempotency-Key")
		checkProblem(t, s.call(t, a, "POST", "/v1/orders", validOrder, "Content-Type", jsonCT, "Idempotency-Key", "oa-2", admin[0], admin[1]), 403, "")
	})
	t.Run("place, bad input", func(t *testing.T) {
		hundredOne := func(m map[string]any) {
			lines := make([]any, 101)
			for i := range lines {
				lines[i] = map[string]any{"sku": fmt.Sprintf("SKU-%d", i), "quantity": 1, "unit_price": 1}
			}
			m["lines"] = lines
		}
		tests := []struct {
			name, body, contentType, key string
			status                       int
			field                        string
		}{
			{"malformed JSON", `{"customer_id" "c-42"}`, jsonCT, "k", 400, "body"},
			{"empty body", ``, jsonCT, "k", 400, "body"},
			{"two JSON objects", validOrder + validOrder, jsonCT, "k", 400, "body"},
			{"unknown field", orderBody(t, func(m map[string]any) { m["coupon"] = "FREE" }), jsonCT, "k", 400, "coupon"},
			{"wrong type", orderBody(t, func(m map[string]any) { line(m, 0)["quantity"] = "2" }), jsonCT, "k", 400, "lines[0].quantity"},
			{"missing Idempotency-Key", validOrder, jsonCT, "", 400, "Idempotency-Key"},
			{"Idempotency-Key with a space", validOrder, jsonCT, "my key", 400, "Idempotency-Key"},
			{"wrong content type", validOrder, "text/plain", "k", 415, "Content-Type"},
			{"body over 64 KiB", orderBody(t, func(m map[string]any) { m["customer_id"] = strings.Repeat("c", 64<<10) }), jsonCT, "k", 413, "body"},
			{"quantity 0", orderBody(t, func(m map[string]any) { line(m, 0)["quantity"] = 0 }), jsonCT, "k", 422, "lines[0].quantity"},
			{"101 lines", orderBody(t, hundredOne), jsonCT, "k", 422, "lines"},
			{"several errors", orderBody(t, func(m map[string]any) { m["currency"] = "eur"; delete(m, "customer_id") }), jsonCT, "k", 422, "currency"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				headers := []string{"Content-Type", tc.contentType}
				if tc.key != "" {
					headers = append(headers, "Idempotency-Key", tc.key)
				}
				checkProblem(t, s.callBad(t, a, "POST", "/v1/orders", tc.body, headers...), tc.status, tc.field)
			})
		}
	})
	t.Run("read", func(t *testing.T) {
		rec := s.call(t, a, "GET", "/v1/orders/"+own, "")
		var got struct{ ID, Status string }
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &got) != nil || got.ID != own || got.Status != "reserved" {
			t.Errorf("GET own order = %d %s", rec.Code, rec.Body)
		}
		if rec := s.call(t, a, "GET", "/v1/orders/"+others, "", admin...); rec.Code != 200 {
			t.Errorf("admin GET = %d %s", rec.Code, rec.Body)
		}
		if rec := s.call(t, a, "GET", "/v1/orders/"+settled, ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"reason":"test"`) {
			t.Errorf("GET cancelled order = %d %s, want its history with the reason", rec.Code, rec.Body)
		}
		checkProblem(t, s.callBad(t, a, "GET", "/v1/orders/not-a-uuid", ""), 400, "id")
		checkProblem(t, s.call(t, a, "GET", "/v1/orders/0195a0c4-6c1e-7d2a-9b7e-0000000a00ff", ""), 404, "")
		checkProblem(t, s.call(t, a, "GET", "/v1/orders/"+others, ""), 404, "")
	})
	t.Run("cancel", func(t *testing.T) {
		rec := s.call(t, a, "POST", "/v1/orders/"+own+"/cancel", "")
		if rec.Code != 202 || !strings.Contains(rec.Body.String(), `"status":"reserved"`) {
			t.Errorf("cancel = %d %s, want 202 reserved", rec.Code, rec.Body)
		}
		if rec := s.call(t, a, "POST", "/v1/orders/"+others+"/cancel", "", admin...); rec.Code != 202 {
			t.Errorf("admin cancel = %d %s, want 202", rec.Code, rec.Body)
		}
		checkProblem(t, s.call(t, a, "POST", "/v1/orders/"+settled+"/cancel", ""), 409, "")
		checkProblem(t, s.call(t, a, "POST", "/v1/orders/0195a0c4-6c1e-7d2a-9b7e-0000000a00ff/cancel", ""), 404, "")
		checkProblem(t, s.callBad(t, a, "POST", "/v1/orders/nope/cancel", ""), 400, "id")
	})
	t.Run("no key", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"POST", "/v1/orders"}, {"GET", "/v1/orders/" + own}, {"POST", "/v1/orders/" + own + "/cancel"},
		} {
			for _, auth := range []string{"", "Basic " + storefrontKey, "Bearer ordk_nope"} {
				rec := s.callBad(t, a, c.method, c.path, validOrder, "Content-Type", jsonCT, "Idempotency-Key", "k", "Authorization", auth)
				checkProblem(t, rec, 401, "")
			}
		}
	})
}

func TestOpenAPIInventory(t *testing.T) {
	t.Parallel()
	s := openSpec(t)
	a := newApp(t)
	if rec := s.call(t, a, "PUT", "/v1/inventory/SKU-1", `{"on_hand":7}`, "Content-Type", jsonCT); rec.Code != 200 {
		t.Errorf("PUT = %d %s", rec.Code, rec.Body)
	}
	if rec := s.call(t, a, "GET", "/v1/inventory/SKU-1", ""); rec.Code != 200 {
		t.Errorf("GET = %d %s", rec.Code, rec.Body)
	}
	placeOrder(t, a, "0195a0c4-6c1e-7d2a-9b7e-0000000b0001", order.Line{SKU: "SKU-1", Quantity: 4, UnitPrice: 1})
	if rec := s.call(t, a, "GET", "/v1/inventory/SKU-1", ""); rec.Body.String() != `{"sku":"SKU-1","on_hand":7,"reserved":4,"available":3}`+"\n" {
		t.Errorf("GET = %d %s", rec.Code, rec.Body)
	}
	checkProblem(t, s.call(t, a, "PUT", "/v1/inventory/SKU-1", `{"on_hand":3}`, "Content-Type", jsonCT), 409, "on_hand")
	checkProblem(t, s.call(t, a, "GET", "/v1/inventory/NOPE", ""), 404, "")

	tests := []struct {
		name, path, body, contentType string
		status                        int
		field                         string
	}{
		{"negative on_hand", "/v1/inventory/SKU-2", `{"on_hand":-1}`, jsonCT, 422, "on_hand"},
		{"missing on_hand", "/v1/inventory/SKU-2", `{}`, jsonCT, 422, "on_hand"},
		{"bad sku characters", "/v1/inventory/bad%20sku", `{"on_hand":1}`, jsonCT, 422, "sku"},
		{"on_hand not a number", "/v1/inventory/SKU-2", `{"on_hand":"7"}`, jsonCT, 400, "on_hand"},
		{"unknown field", "/v1/inventory/SKU-2", `{"on_hand":1,"reserved":0}`, jsonCT, 400, "reserved"},
		{"malformed JSON", "/v1/inventory/SKU-2", `{"on_hand":`, jsonCT, 400, "body"},
		{"wrong content type", "/v1/inventory/SKU-2", `{"on_hand":1}`, "text/plain", 415, "Content-Type"},
		{"body over 64 KiB", "/v1/inventory/SKU-2", `{"on_hand":1` + strings.Repeat(" ", 64<<10) + `}`, jsonCT, 413, "body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkProblem(t, s.callBad(t, a, "PUT", tc.path, tc.body, "Content-Type", tc.contentType), tc.status, tc.field)
		})
	}
	t.Run("storefront key", func(t *testing.T) {
		sf := []string{"Authorization", "Bearer " + storefrontKey}
		checkProblem(t, s.call(t, a, "PUT", "/v1/inventory/SKU-1", `{"on_hand":7}`, "Content-Type", jsonCT, sf[0], sf[1]), 403, "")
		checkProblem(t, s.call(t, a, "GET", "/v1/inventory/SKU-1", "", sf...), 403, "")
	})
	t.Run("no key", func(t *testing.T) {
		checkProblem(t, s.callBad(t, a, "PUT", "/v1/inventory/SKU-1", `{"on_hand":7}`, "Content-Type", jsonCT, "Authorization", ""), 401, "")
		checkProblem(t, s.callBad(t, a, "GET", "/v1/inventory/SKU-1", "", "Authorization", "Bearer ordk_nope"), 401, "")
	})
}

// TestOpenAPIRateLimited: every route's 429 (with Retry-After) matches the document.
func TestOpenAPIRateLimited(t *testing.T) {
	t.Parallel()
	s := openSpec(t)
	a := newApp(t)
	limited := &app{api: rateLimitedAPI(t, a), store: a.store, js: a.js}
	mux := http.NewServeMux()
	limited.api.Routes(mux)
	limited.handler = mux
	keys := map[access.Role]string{access.RoleStorefront: storefrontKey, access.RoleAdmin: adminKey}
	// Spend each key's one token on a route its role may use.
	for path, key := range map[string]string{"/v1/orders/0195a0c4-6c1e-7d2a-9b7e-0000000c0001": storefrontKey, "/v1/inventory/NOPE": adminKey} {
		checkProblem(t, limited.do(t, "GET", path, "", "Authorization", "Bearer "+key), 404, "")
	}
	for _, rt := range limited.api.RouteTable() {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		path = strings.NewReplacer("{id}", "0195a0c4-6c1e-7d2a-9b7e-0000000c0001", "{sku}", "SKU-1").Replace(path)
		if path == "/v1/reports/sales" {
			path += "?from=2026-11-01&to=2026-11-30"
		}
		// The limit comes before the body is read: any body will do.
		rec := s.callBad(t, limited, method, path, `{}`, "Content-Type", jsonCT, "Idempotency-Key", "k",
			"Authorization", "Bearer "+keys[rt.Roles[0]])
		checkProblem(t, rec, 429, "")
		if rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s: 429 without Retry-After", rt.Pattern)
		}
	}
}

// rateLimitedAPI is a's API with a limiter that gives each key one request.
func rateLimitedAPI(t *testing.T, a *app) *httpapi.API {
	t.Helper()
	d := deps(t, a.store, a.js)
	var err error
	if d.Limiter, err = httpapi.NewRateLimiter(0.001, 1, time.Now); err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(d)
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// TestOpenAPIJetStreamDown: the 503s of the routes that store commands match the document.
func TestOpenAPIJetStreamDown(t *testing.T) {
	t.Parallel()
	s := openSpec(t)
	a, stopJetStream := newAppWithStoppableJetStream(t)
	putStock(t, a, "SKU-1", 5)
	id := "0195a0c4-6c1e-7d2a-9b7e-0000000d0001"
	placeOrder(t, a, id, order.Line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100})
	stopJetStream()

	t.Run("place", func(t *testing.T) {
		t.Parallel()
		rec := s.call(t, a, "POST", "/v1/orders", validOrder, "Content-Type", jsonCT, "Idempotency-Key", "down-1")
		checkProblem(t, rec, 503, "")
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		checkProblem(t, s.call(t, a, "POST", "/v1/orders/"+id+"/cancel", ""), 503, "")
	})
}
