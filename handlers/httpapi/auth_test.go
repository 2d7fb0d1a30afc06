package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/handlers/httpapi"
)

// TestEveryRouteIsGuarded walks the API's own route table, so a route added later is covered
// without touching this test: no or unknown or revoked credentials → 401, a role the route does
// not admit → 403, another storefront's order → 404.
func TestEveryRouteIsGuarded(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	putStock(t, a, "SKU-1", 5)
	own, others := "0195a0c4-6c1e-7d2a-9b7e-3f1d2c4b5a80", "0195a0c4-6c1e-7d2a-9b7e-3f1d2c4b5a81"
	placeOrder(t, a, own, order.Line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100})
	placeOrderFor(t, a, "other-shop", others, order.Line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100})
	const otherShopKey = "ordk_test_other_shop_00000000000000000000000000"
	createKey(t, a.store, otherShopKey, access.RoleStorefront, "other-shop")
	revokedSF := revokedKey(t, a, "ordk_test_revoked_storefront_0000000000000000", access.RoleStorefront, "default")
	revokedAdmin := revokedKey(t, a, "ordk_test_revoked_admin_000000000000000000000", access.RoleAdmin, "")

	routes := a.api.RouteTable()
	if len(routes) < 4 {
		t.Fatalf("route table has %d routes", len(routes))
	}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		path = strings.NewReplacer("{id}", own, "{sku}", "SKU-1").Replace(path)
		call := func(auth string) int {
			return a.do(t, method, path, `{}`, "Content-Type", "application/json", "Authorization", auth).Code
		}
		t.Run(rt.Pattern, func(t *testing.T) {
			for name, auth := range map[string]string{
				"no credentials": "", "not bearer": "Basic " + storefrontKey, "unknown key": "Bearer ordk_nope",
				"revoked storefront key": "Bearer " + revokedSF, "revoked admin key": "Bearer " + revokedAdmin,
			} {
				rec := a.do(t, method, path, `{}`, "Content-Type", "application/json", "Authorization", auth)
				checkProblem(t, rec, http.StatusUnauthorized, "")
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("%s: 401 without WWW-Authenticate", name)
				}
			}
			for role, key := range map[access.Role]string{access.RoleStorefront: storefrontKey, access.RoleAdmin: adminKey} {
				code := call("Bearer " + key)
				if !slices.Contains(rt.Roles, role) && code != http.StatusForbidden {
					t.Errorf("%s key: %d, want 403", role, code)
				}
				if slices.Contains(rt.Roles, role) && (code == http.StatusUnauthorized || code == http.StatusForbidden) {
					t.Errorf("%s key: %d, want the route to run", role, code)
				}
			}
			if strings.Contains(rt.Pattern, "{id}") && slices.Contains(rt.Roles, access.RoleStorefront) {
				if code := call("Bearer " + otherShopKey); code != http.StatusNotFound {
					t.Errorf("another storefront's key on this order: %d, want 404", code)
				}
			}
		})
	}
	if code := a.do(t, http.MethodGet, "/v1/orders/"+others, "", "Authorization", "Bearer "+adminKey).Code; code != http.StatusOK {
		t.Errorf("admin reading any storefront's order: %d, want 200", code)
	}
}

func revokedKey(t *testing.T, a *app, plaintext string, role access.Role, storefront string) string {
	t.Helper()
	createKey(t, a.store, plaintext, role, storefront)
	k, err := access.FromPlaintext(plaintext, role, storefront)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.store.RevokeKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	return plaintext
}

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	l, err := httpapi.NewRateLimiter(2, 3, clock)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if ok, _ := l.Allow("k1"); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := l.Allow("k1")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("4th request: ok=%v wait=%s, want refused for about 0.5s", ok, wait)
	}
	if ok, _ := l.Allow("k2"); !ok {
		t.Error("another key shares the first key's bucket")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.Allow("k1"); !ok {
		t.Error("a token did not come back after 1/rate seconds")
	}
}
