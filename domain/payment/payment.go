// Package payment holds the payment port: what the saga asks of a payment gateway, the
// outcomes it can get, and how idempotency keys are derived so that a redelivered message
// never charges twice.
package payment

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors a Gateway returns (wrapped, with detail), compared with errors.Is.
var (
	// ErrDeclined: the gateway refused for good (card declined, authorization voided). A
	// *DeclineError carries the gateway's reason.
	ErrDeclined = errors.New("payment: declined")
	// ErrTransient: the gateway failed in a way that a later retry with the same idempotency
	// key may fix (processing error, rate limit, 5xx).
	ErrTransient = errors.New("payment: transient failure")
	// ErrUnknownOutcome: the call may or may not have taken effect (timeout, connection cut
	// after sending). Settle it by asking the gateway (Find), never by calling again blindly.
	ErrUnknownOutcome = errors.New("payment: outcome unknown")
	// ErrNotFound: Find knows no operation made with this idempotency key.
	ErrNotFound = errors.New("payment: no such operation")
)

// ErrAlreadyCaptured: a Void found the hold captured already (the capture step reached the
// gateway and did not commit). The money was taken: refund it, never treat it as voided.
var ErrAlreadyCaptured = errors.New("payment: already captured")

// ReasonAlreadyCaptured is the decline reason every gateway gives a Void of a captured hold.
const ReasonAlreadyCaptured = "already_captured"

// The decline reasons every gateway gives an amount it does not take. The order's total is
// what it is: no retry can fix it, so the saga cancels such an order like any decline.
const (
	ReasonAmountTooSmall = "amount_too_small" // 0 or less, or under the gateway's minimum
	ReasonAmountTooLarge = "amount_too_large" // over the gateway's maximum
)

// DeclineError is a decline with the gateway's reason (e.g. "card_declined").
type DeclineError struct{ Reason string }

func (e *DeclineError) Error() string { return "payment: declined: " + e.Reason }

// Is makes errors.Is(err, ErrDeclined) true, and errors.Is(err, ErrAlreadyCaptured) for a Void
// of a captured hold.
func (e *DeclineError) Is(target error) bool {
	return target == ErrDeclined || (target == ErrAlreadyCaptured && e.Reason == ReasonAlreadyCaptured)
}

// Authorization is a hold on the customer's funds.
type Authorization struct {
	ID       string // the gateway's id (Stripe: a PaymentIntent id)
	Amount   int64  // minor units
	Currency string // ISO 4217, upper case
}

// AuthorizeRequest asks to hold Amount of Currency on the card behind Token.
type AuthorizeRequest struct {
	IdempotencyKey string
	OrderID        string
	Amount         int64
	Currency       string
	Token          string // a Stripe test token such as tok_visa; never log it
}

// Gateway is the port the payment worker drives. Every call carries an idempotency key: the
// same key always yields the first call's result, so a redelivered message is harmless.
type Gateway interface {
	// Authorize holds funds. It returns a *DeclineError, ErrTransient or ErrUnknownOutcome.
	// An amount the gateway does not take (0, under its minimum, over its maximum) is a
	// decline (ReasonAmountTooSmall, ReasonAmountTooLarge…), never an error of another kind.
	Authorize(ctx context.Context, req AuthorizeRequest) (Authorization, error)
	// Capture takes the held amount.
	Capture(ctx context.Context, idempotencyKey string, auth Authorization) error
	// Void releases a hold that was not captured.
	Void(ctx context.Context, idempotencyKey string, auth Authorization) error
	// Refund returns a captured amount.
	Refund(ctx context.Context, idempotencyKey string, auth Authorization) error
	// Find returns the authorization made with an Authorize idempotency key, or ErrNotFound:
	// how the authorize step settles an unknown outcome. ErrNotFound may be stale (Stripe's
	// search lags its writes): the step then authorizes again with the same key, which the
	// gateway answers with the first call's result, so a stale answer costs a retry, never a
	// second hold. It is no proof that no hold exists: a cancellation asks Abandon.
	Find(ctx context.Context, idempotencyKey string, orderID string) (Authorization, error)
	// Abandon gives up the authorization req asks for, for an order cancelled or expired
	// before an authorization was recorded. It returns the hold an Authorize with req's key
	// made, which the caller must void, or ErrNotFound when none holds funds; either way, no
	// Authorize with that key holds funds afterwards (the key is spent: a late or repeated
	// Authorize is refused). It never answers ErrNotFound on a guess: when it cannot tell for
	// now it returns ErrUnknownOutcome (or ErrTransient) and the caller retries as for an outage;
	// when no retry can tell, an error of neither kind, and the caller parks the order in
	// needs_attention rather than release it with a possible hold. req must be the request
	// the authorize step sends (same key, order, amount, currency and token): a gateway may
	// replay it to learn what the first one did.
	Abandon(ctx context.Context, req AuthorizeRequest) (Authorization, error)
}

// ReasonAbandoned is the decline reason an Authorize gets once Abandon spent its key, where
// the gateway answers it with a decline at all.
const ReasonAbandoned = "authorization_abandoned"

// Operation names one gateway call of an order's saga.
type Operation string

// The operations, each made at most once per order.
const (
	OpAuthorize Operation = "authorize"
	OpCapture   Operation = "capture"
	OpVoid      Operation = "void"
	OpRefund    Operation = "refund"
)

// Why an order was cancelled after the gateway declined it: the reason's prefix in the order's
// history (the gateway's own reason follows), which the decline metrics read.
const (
	ReasonAuthorizeDeclined = "payment_declined"
	ReasonCaptureDeclined   = "capture_failed"
)

// DeclineReason is the cancellation reason of a decline by the gateway at op.
func DeclineReason(op Operation, gatewayReason string) string {
	prefix := ReasonAuthorizeDeclined
	if op == OpCapture {
		prefix = ReasonCaptureDeclined
	}
	return prefix + ": " + gatewayReason
}

// DeclinedAt tells which operation's decline a cancellation reason records, if any.
func DeclinedAt(reason string) (Operation, bool) {
	prefix, _, _ := strings.Cut(reason, ":")
	switch prefix {
	case ReasonAuthorizeDeclined:
		return OpAuthorize, true
	case ReasonCaptureDeclined:
		return OpCapture, true
	}
	return "", false
}

// IdempotencyKey derives the key of an operation on an order. One order makes each operation
// once, so the key needs no attempt number: a retry or a redelivery reuses it, and the
// gateway answers with the first result.
func IdempotencyKey(orderID string, op Operation) string {
	return fmt.Sprintf("orders-%s-%s", orderID, op)
}
