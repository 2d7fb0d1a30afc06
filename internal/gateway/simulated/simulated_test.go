package simulated_test

import (
	"context"
	"errors"
	"maps"
	mathrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/internal/gateway/gatewaytest"
	"github.com/shopflow/orders/internal/gateway/simulated"
	"github.com/shopflow/orders/internal/testenv"
)

func TestReplaysAreCountedAndNeverChargeTwice(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, testenv.Pool(t), simulated.Config{})
	ctx := t.Context()
	req := gatewaytest.Request(gatewaytest.Order(t), "tok_visa")
	auth := authorize(t, gw, req)
	if again := authorize(t, gw, req); again != auth {
		t.Fatalf("replayed authorize gave %+v, first gave %+v", again, auth)
	}
	for range 3 {
		gatewaytest.Settle(t, gw, req.OrderID, payment.OpCapture, auth)
	}
	wantReplays(t, gw, req.IdempotencyKey, 1)
	wantReplays(t, gw, payment.IdempotencyKey(req.OrderID, payment.OpCapture), 2)
	want := map[payment.Operation]int{payment.OpAuthorize: 1, payment.OpCapture: 1}
	counts, err := gw.CountsForOrder(ctx, req.OrderID)
	if err != nil || !maps.Equal(counts, want) {
		t.Fatalf("counts for the order: %v, %v; want %v", counts, err, want)
	}
	if counts, err := gw.Counts(ctx); err != nil || !maps.Equal(counts, want) {
		t.Fatalf("counts: %v, %v; want %v", counts, err, want)
	}
}

func TestConcurrentAuthorizeWithOneKeyMakesOneRecord(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, testenv.Pool(t), simulated.Config{})
	req := gatewaytest.Request(gatewaytest.Order(t), "tok_visa")
	const calls = 20
	auths := make([]payment.Authorization, calls)
	errs := make([]error, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() { auths[i], errs[i] = gw.Authorize(t.Context(), req) })
	}
	wg.Wait()
	for i := range calls {
		if errs[i] != nil || auths[i] != auths[0] {
			t.Fatalf("call %d: %+v, %v; call 0 got %+v", i, auths[i], errs[i], auths[0])
		}
	}
	counts, err := gw.Counts(t.Context())
	if err != nil || counts[payment.OpAuthorize] != 1 {
		t.Fatalf("counts %v, %v; want one authorization", counts, err)
	}
	wantReplays(t, gw, req.IdempotencyKey, calls-1)
}

// TestConcurrentCaptureAndVoidApproveOne races captures and voids of one authorization under
// different keys, as two sagas gone wrong would: exactly one may win.
func TestConcurrentCaptureAndVoidApproveOne(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, testenv.Pool(t), simulated.Config{})
	orderID, auth := gatewaytest.Authorize(t, gw)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			key := "race-" + orderID + "-" + string(rune('a'+i))
			var err error
			if i%2 == 0 {
				err = gw.Capture(t.Context(), key, auth)
			} else {
				err = gw.Void(t.Context(), key, auth)
			}
			if err != nil && !errors.Is(err, payment.ErrDeclined) {
				t.Errorf("call %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	counts, err := gw.CountsForOrder(t.Context(), orderID)
	if err != nil || counts[payment.OpCapture]+counts[payment.OpVoid] != 1 {
		t.Fatalf("counts %v, %v; want one capture or one void", counts, err)
	}
}

func TestExitAfterCapturesFiresOnceTheCaptureIsCommitted(t *testing.T) {
	t.Parallel()
	pool := testenv.Pool(t)
	var exits []int
	var committed map[payment.Operation]int
	var gw *simulated.Gateway
	gw = newGateway(t, pool, simulated.Config{ExitAfterCaptures: 2, Exit: func(code int) {
		exits = append(exits, code)
		// Read on another connection: only a committed capture is visible there.
		var err error
		if committed, err = gw.Counts(context.Background()); err != nil {
			t.Errorf("counts at exit: %v", err)
		}
	}})
	orders := make([]string, 3)
	for i := range orders {
		var auth payment.Authorization
		orders[i], auth = gatewaytest.Authorize(t, gw)
		gatewaytest.Settle(t, gw, orders[i], payment.OpCapture, auth)
		gatewaytest.Settle(t, gw, orders[i], payment.OpCapture, auth) // a replay is no new capture
		if want := map[int]int{0: 0, 1: 1, 2: 1}[i]; len(exits) != want {
			t.Fatalf("after capture %d: exit called %d times, want %d", i+1, len(exits), want)
		}
	}
	if exits[0] != simulated.ExitCode {
		t.Fatalf("exit code %d, want %d", exits[0], simulated.ExitCode)
	}
	if committed[payment.OpCapture] != 2 {
		t.Fatalf("at exit another connection saw %v, want the second capture committed", committed)
	}
}

func TestFailureRateOneFailsEveryCallAndRecordsNothing(t *testing.T) {
	t.Parallel()
	pool := testenv.Pool(t)
	orderID, auth := gatewaytest.Authorize(t, newGateway(t, pool, simulated.Config{}))
	gw := newGateway(t, pool, simulated.Config{FailureRate: 1})
	ctx := t.Context()
	_, authErr := gw.Authorize(ctx, gatewaytest.Request(gatewaytest.Order(t), "tok_visa"))
	_, findErr := gw.Find(ctx, payment.IdempotencyKey(orderID, payment.OpAuthorize), orderID)
	calls := map[string]error{
		"authorize": authErr,
		"capture":   gw.Capture(ctx, payment.IdempotencyKey(orderID, payment.OpCapture), auth),
		"void":      gw.Void(ctx, payment.IdempotencyKey(orderID, payment.OpVoid), auth),
		"refund":    gw.Refund(ctx, payment.IdempotencyKey(orderID, payment.OpRefund), auth),
		"find":      findErr,
	}
	for name, err := range calls {
		if !errors.Is(err, payment.ErrTransient) {
			t.Errorf("%s: %v, want payment.ErrTransient", name, err)
		}
	}
	want := map[payment.Operation]int{payment.OpAuthorize: 1}
	if counts, err := gw.Counts(ctx); err != nil || !maps.Equal(counts, want) {
		t.Fatalf("counts %v, %v; want only the first gateway's authorization", counts, err)
	}
}

func TestLatencyEndsWithTheContext(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, testenv.Pool(t), simulated.Config{Latency: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := gw.Authorize(ctx, gatewaytest.Request(gatewaytest.Order(t), "tok_visa"))
	if !errors.Is(err, payment.ErrTransient) || !errors.Is(err, context.Canceled) {
		t.Fatalf("authorize with a cancelled context: %v, want transient and cancelled", err)
	}
}

func TestMismatchesAreRefused(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, testenv.Pool(t), simulated.Config{})
	req := gatewaytest.Request(gatewaytest.Order(t), "tok_visa")
	auth := authorize(t, gw, req)

	other := req
	other.Amount++
	if _, err := gw.Authorize(t.Context(), other); !errors.Is(err, simulated.ErrKeyReused) {
		t.Errorf("authorize key reused with another amount: %v, want ErrKeyReused", err)
	}
	more := auth
	more.Amount++
	err := gw.Capture(t.Context(), payment.IdempotencyKey(req.OrderID, payment.OpCapture), more)
	if decline := (*payment.DeclineError)(nil); !errors.As(err, &decline) || decline.Reason != "amount_mismatch" {
		t.Errorf("capture of more than authorized: %v, want declined amount_mismatch", err)
	}
	unknown := payment.Authorization{ID: "simauth_unknown", Amount: 1, Currency: "EUR"}
	err = gw.Void(t.Context(), "void-unknown", unknown)
	if decline := (*payment.DeclineError)(nil); !errors.As(err, &decline) || decline.Reason != "no_such_authorization" {
		t.Errorf("void of an unknown authorization: %v, want declined no_such_authorization", err)
	}
}

func TestNewRejectsMissingDependenciesAndBadConfig(t *testing.T) {
	t.Parallel()
	pool := testenv.Pool(t)
	rnd := mathrand.New(mathrand.NewPCG(1, 2))
	if _, err := simulated.New(nil, simulated.Config{}, rnd); err == nil {
		t.Error("nil pool accepted")
	}
	if _, err := simulated.New(pool, simulated.Config{}, nil); err == nil {
		t.Error("nil random source accepted")
	}
	_, err := simulated.New(pool, simulated.Config{Latency: -1, FailureRate: 2, ExitAfterCaptures: -1}, rnd)
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 3 {
		t.Errorf("bad config: %v, want all three problems reported", err)
	}
}

func authorize(t *testing.T, gw *simulated.Gateway, req payment.AuthorizeRequest) payment.Authorization {
	t.Helper()
	auth, err := gw.Authorize(t.Context(), req)
	if err != nil {
		t.Fatalf("authorize %s: %v", req.OrderID, err)
	}
	return auth
}

func wantReplays(t *testing.T, gw *simulated.Gateway, key string, want int) {
	t.Helper()
	if n, err := gw.Replays(t.Context(), key); err != nil || n != want {
		t.Fatalf("replays of %s: %d, %v; want %d", key, n, err, want)
	}
}
