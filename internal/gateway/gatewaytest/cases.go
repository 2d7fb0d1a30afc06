package gatewaytest

import (
	"errors"
	"testing"

	"github.com/shopflow/orders/domain/payment"
)

func authorizeApproves(t *testing.T, gw payment.Gateway, _ Capabilities) {
	_, auth := Authorize(t, gw)
	if auth.ID == "" {
		t.Fatal("authorization without an ID")
	}
	if auth.Amount != Amount || auth.Currency != Currency {
		t.Fatalf("authorized %d %s, want %d %s", auth.Amount, auth.Currency, Amount, Currency)
	}
}

func authorizeReplayed(t *testing.T, gw payment.Gateway, caps Capabilities) {
	req := Request(Order(t), "tok_visa")
	first, err := gw.Authorize(t.Context(), req)
	if err != nil {
		t.Fatalf("first authorize: %v", err)
	}
	again, err := gw.Authorize(t.Context(), req)
	if err != nil {
		t.Fatalf("replayed authorize: %v", err)
	}
	if caps.Stateful && again != first {
		t.Fatalf("replayed authorize gave %+v, first gave %+v", again, first)
	}
}

func captureAfterAuthorize(t *testing.T, gw payment.Gateway, _ Capabilities) {
	orderID, auth := Authorize(t, gw)
	Settle(t, gw, orderID, payment.OpCapture, auth)
}

// captureReplayed shows that a replayed capture key is answered as the first call was; that
// it captured only once is the implementation's own test to show (the simulated gateway's
// counts), since the port has no way to ask.
func captureReplayed(t *testing.T, gw payment.Gateway, _ Capabilities) {
	orderID, auth := Authorize(t, gw)
	Settle(t, gw, orderID, payment.OpCapture, auth)
	Settle(t, gw, orderID, payment.OpCapture, auth)
}

func voidAfterAuthorize(t *testing.T, gw payment.Gateway, _ Capabilities) {
	orderID, auth := Authorize(t, gw)
	Settle(t, gw, orderID, payment.OpVoid, auth)
}

func refundAfterCapture(t *testing.T, gw payment.Gateway, _ Capabilities) {
	orderID, auth := Authorize(t, gw)
	Settle(t, gw, orderID, payment.OpCapture, auth)
	Settle(t, gw, orderID, payment.OpRefund, auth)
}

func findAfterAuthorize(t *testing.T, gw payment.Gateway, caps Capabilities) {
	orderID, auth := Authorize(t, gw)
	found, err := gw.Find(t.Context(), payment.IdempotencyKey(orderID, payment.OpAuthorize), orderID)
	if err != nil {
		t.Fatalf("find: %v", err)
	}
	if found.ID == "" {
		t.Fatal("found an authorization without an ID")
	}
	if caps.Stateful && found != auth {
		t.Fatalf("found %+v, authorized %+v", found, auth)
	}
}

func declinedCard(t *testing.T, gw payment.Gateway, _ Capabilities) {
	_, err := gw.Authorize(t.Context(), Request(Order(t), "tok_chargeDeclined"))
	wantDeclined(t, err, "authorize tok_chargeDeclined")
}

// processingErrorRecovers retries as the saga does, with the same key, and wants at least one
// transient failure before the approval, and the approval to stick.
func processingErrorRecovers(t *testing.T, gw payment.Gateway, _ Capabilities) {
	req := Request(Order(t), "tok_chargeDeclinedProcessingError")
	const attempts = 10
	failures := 0
	for range attempts {
		auth, err := gw.Authorize(t.Context(), req)
		if errors.Is(err, payment.ErrTransient) {
			failures++
			continue
		}
		if err != nil {
			t.Fatalf("after %d transient failures: %v", failures, err)
		}
		if failures == 0 {
			t.Fatal("approved at once, want a transient failure first")
		}
		again, err := gw.Authorize(t.Context(), req)
		if err != nil || again != auth {
			t.Fatalf("replay after the approval: %+v, %v; want %+v", again, err, auth)
		}
		return
	}
	t.Fatalf("still failing after %d attempts", attempts)
}

func captureAfterVoid(t *testing.T, gw payment.Gateway, _ Capabilities) {
	orderID, auth := Authorize(t, gw)
	Settle(t, gw, orderID, payment.OpVoid, auth)
	wantDeclined(t, settle(t.Context(), gw, orderID, payment.OpCapture, auth), "capture after void")
}

func voidAfterCapture(t *testing.T, gw payment.Gateway, _ Capabilities) {
	orderID, auth := Authorize(t, gw)
	Settle(t, gw, orderID, payment.OpCapture, auth)
	wantDeclined(t, settle(t.Context(), gw, orderID, payment.OpVoid, auth), "void after capture")
}

func refundBeforeCapture(t *testing.T, gw payment.Gateway, _ Capabilities) {
	orderID, auth := Authorize(t, gw)
	wantDeclined(t, settle(t.Context(), gw, orderID, payment.OpRefund, auth), "refund before capture")
}

func findUnknown(t *testing.T, gw payment.Gateway, _ Capabilities) {
	orderID := Order(t)
	_, err := gw.Find(t.Context(), payment.IdempotencyKey(orderID, payment.OpAuthorize), orderID)
	if !errors.Is(err, payment.ErrNotFound) {
		t.Fatalf("find of a key never used: %v, want payment.ErrNotFound", err)
	}
}

func findDeclined(t *testing.T, gw payment.Gateway, _ Capabilities) {
	req := Request(Order(t), "tok_chargeDeclined")
	_, err := gw.Authorize(t.Context(), req)
	wantDeclined(t, err, "authorize tok_chargeDeclined")
	if _, err := gw.Find(t.Context(), req.IdempotencyKey, req.OrderID); !errors.Is(err, payment.ErrNotFound) {
		t.Fatalf("find of a declined authorization: %v, want payment.ErrNotFound", err)
	}
}

// amountZeroDeclined: a gateway refuses to hold nothing, and says so as a decline, so that the
// saga cancels the order instead of retrying what no retry can fix.
func amountZeroDeclined(t *testing.T, gw payment.Gateway, _ Capabilities) {
	req := Request(Order(t), "tok_visa")
	req.Amount = 0
	_, err := gw.Authorize(t.Context(), req)
	wantDeclined(t, err, "authorize amount 0")
}

// amountTooLargeDeclined: an amount over the gateway's maximum is a decline too.
func amountTooLargeDeclined(t *testing.T, gw payment.Gateway, _ Capabilities) {
	req := Request(Order(t), "tok_visa")
	req.Amount = TooLarge
	_, err := gw.Authorize(t.Context(), req)
	wantDeclined(t, err, "authorize an amount over the maximum")
}

func abandonAfterAuthorize(t *testing.T, gw payment.Gateway, caps Capabilities) {
	req := Request(Order(t), "tok_visa")
	auth, err := gw.Authorize(t.Context(), req)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	found, err := gw.Abandon(t.Context(), req)
	if err != nil {
		t.Fatalf("abandon after an approved authorize: %v, want its hold", err)
	}
	if found.ID == "" {
		t.Fatal("abandon returned a hold without an ID")
	}
	if caps.Stateful && found != auth {
		t.Fatalf("abandon returned %+v, authorized %+v", found, auth)
	}
}

// abandonUnusedKey: nothing held, and nothing can be once the key is abandoned.
func abandonUnusedKey(t *testing.T, gw payment.Gateway, _ Capabilities) {
	req := Request(Order(t), "tok_visa")
	if _, err := gw.Abandon(t.Context(), req); !errors.Is(err, payment.ErrNotFound) {
		t.Fatalf("abandon of a key never used: %v, want payment.ErrNotFound", err)
	}
	if auth, err := gw.Authorize(t.Context(), req); err == nil {
		t.Fatalf("authorize after abandon held %+v, want it refused", auth)
	}
	if _, err := gw.Abandon(t.Context(), req); !errors.Is(err, payment.ErrNotFound) {
		t.Fatalf("abandon again: %v, want payment.ErrNotFound", err)
	}
}

func abandonDeclined(t *testing.T, gw payment.Gateway, _ Capabilities) {
	req := Request(Order(t), "tok_chargeDeclined")
	_, err := gw.Authorize(t.Context(), req)
	wantDeclined(t, err, "authorize tok_chargeDeclined")
	if _, err := gw.Abandon(t.Context(), req); !errors.Is(err, payment.ErrNotFound) {
		t.Fatalf("abandon of a declined authorization: %v, want payment.ErrNotFound", err)
	}
}
