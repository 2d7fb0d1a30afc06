package stripe_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/internal/gateway/gatewaytest"
	"github.com/shopflow/orders/internal/gateway/stripe"
)

// testKey is a test-mode key: stripe-mock wants one of that shape, and the tests look for
// its secret part in every error and rendering to show that it never leaks.
const testKey = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"

// TestContract runs the gateway suite against a real stripe-mock. stripe-mock validates every
// request against Stripe's OpenAPI spec and answers fixtures: it never declines and keeps no
// state, so only the stateless cases run here; the decline and error paths are shown by
// TestErrorMapping.
func TestContract(t *testing.T) {
	url := stripeMock(t)
	gatewaytest.Run(t, func(t *testing.T) payment.Gateway {
		return newGateway(t, stripe.Config{APIKey: testKey, BaseURL: url, Timeout: 10 * time.Second})
	}, gatewaytest.Capabilities{})
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	_, err := stripe.New(stripe.Config{BaseURL: "not a url", Timeout: -time.Second})
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"API key", "base URL", "timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report the %s", err, want)
		}
	}
	if _, err := stripe.New(stripe.Config{APIKey: testKey}); err != nil {
		t.Errorf("a key alone is enough (Stripe's URL, default timeout): %v", err)
	}
}

func TestConfigNeverPrintsTheKey(t *testing.T) {
	t.Parallel()
	cfg := stripe.Config{APIKey: testKey, BaseURL: "http://127.0.0.1:1", Timeout: time.Second}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "stripe", cfg)
	renderings := map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		//lint:ignore S1025 the point is what each verb prints, %s included
		"%s": fmt.Sprintf("%s", cfg), "slog": logged.String(),
	}
	for how, s := range renderings {
		if strings.Contains(s, secretPart(testKey)) {
			t.Errorf("%s prints the key: %s", how, s)
		}
		if !strings.Contains(s, "sk_test_") {
			t.Errorf("%s hides the key's kind, which an operator needs: %s", how, s)
		}
	}
}

func newGateway(t testing.TB, cfg stripe.Config) *stripe.Gateway {
	t.Helper()
	gw, err := stripe.New(cfg)
	if err != nil {
		t.Fatalf("new stripe gateway: %v", err)
	}
	return gw
}

// secretPart is a key without its sk_test_ prefix.
func secretPart(key string) string {
	return key[strings.LastIndex(key, "_")+1:]
}
