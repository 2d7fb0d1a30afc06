package stripe

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"

	stripego "github.com/stripe/stripe-go/v83"

	"github.com/shopflow/orders/domain/payment"
)

// refused reports whether an invalid_request_error code refuses an operation for good because
// of the payment's state (capture after a cancel, refund of what was never captured, an
// expired authorization…) rather than because this program sent a malformed request: the
// saga treats those as declines and compensates, where any other 4xx is a bug or a
// misconfiguration for an operator to see.
func refused(code stripego.ErrorCode) bool {
	switch code {
	case stripego.ErrorCodePaymentIntentUnexpectedState,
		stripego.ErrorCodeChargeAlreadyCaptured,
		stripego.ErrorCodeChargeAlreadyRefunded,
		stripego.ErrorCodeChargeExpiredForCapture,
		stripego.ErrorCodeCaptureChargeAuthorizationExpired,
		stripego.ErrorCodeCaptureUnauthorizedPayment,
		stripego.ErrorCodeChargeNotRefundable,
		stripego.ErrorCodeAmountTooLarge,
		stripego.ErrorCodeAmountTooSmall,
		stripego.ErrorCodePaymentIntentAuthenticationFailure,
		stripego.ErrorCodePaymentIntentPaymentAttemptFailed,
		stripego.ErrorCodePaymentIntentIncompatiblePaymentMethod,
		stripego.ErrorCodeResourceMissing:
		return true
	}
	return false
}

// classify puts an error of a call to Stripe in the port's terms. effect says whether the
// request could have moved money: when it could, a request that may have reached Stripe and
// got no answer has an unknown outcome, to be settled with Find rather than by calling again.
func classify(what string, err error, effect bool) error {
	var se *stripego.Error
	if errors.As(err, &se) {
		return fromAPI(what, se)
	}
	// A connection that was never made carried no request: safe to retry.
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Errorf("%s: %w: %w", what, payment.ErrTransient, err)
	}
	if !effect {
		return fmt.Errorf("%s: %w: %w", what, payment.ErrTransient, err)
	}
	// A timeout, a cancelled context or a connection cut after the request was written, or an
	// answer that is not Stripe's (a proxy's HTML page): Stripe may have acted on it.
	return fmt.Errorf("%s: %w: %w", what, payment.ErrUnknownOutcome, err)
}

// fromAPI maps an error answered by Stripe. It does not wrap se: se's Error() is the whole
// error object as JSON, which can embed the PaymentIntent and its PaymentMethod, and the
// message of an invalid request may quote a token. The fields kept, the message without
// tokens, are enough to look the request up in Stripe's dashboard by its ID.
func fromAPI(what string, se *stripego.Error) error {
	detail := describe(se)
	status := se.HTTPStatusCode
	switch {
	case se.Type == stripego.ErrorTypeCard || status == http.StatusPaymentRequired:
		return fmt.Errorf("%s: %w (%s)", what, &payment.DeclineError{Reason: declineReason(se)}, detail)
	case status == http.StatusBadRequest && refused(se.Code):
		return fmt.Errorf("%s: %w (%s)", what, &payment.DeclineError{Reason: string(se.Code)}, detail)
	case status == http.StatusBadRequest && amountParam(se.Param):
		// Stripe refuses 0 as parameter_invalid_integer rather than amount_too_small. The
		// amount is the order's total, not a bug of this program: no retry can change it, so
		// the saga must cancel the order rather than retry the step until it gives up.
		return fmt.Errorf("%s: %w (%s)", what, &payment.DeclineError{Reason: ReasonAmountInvalid}, detail)
	case status == http.StatusConflict, status == http.StatusTooManyRequests, status >= 500:
		// 409: another request with this idempotency key is in flight; 429: rate limited or a
		// lock timeout; 5xx: Stripe's own failure. A retry with the same key may succeed.
		return fmt.Errorf("%s: %w (%s)", what, payment.ErrTransient, detail)
	}
	return fmt.Errorf("%s: stripe refused the request (%s)", what, detail)
}

// ReasonAmountInvalid is the decline reason of an amount Stripe does not take for another
// reason than amount_too_small or amount_too_large (0 is "not an integer ≥ 1").
const ReasonAmountInvalid = "amount_invalid"

// amountReason reports whether a decline reason is Stripe refusing an amount.
func amountReason(reason string) bool {
	switch reason {
	case string(stripego.ErrorCodeAmountTooSmall), string(stripego.ErrorCodeAmountTooLarge), ReasonAmountInvalid:
		return true
	}
	return false
}

// amountParam reports whether a request parameter is the amount of the payment.
func amountParam(param string) bool {
	return param == "amount" || param == "amount_to_capture"
}

// declineReason is the issuer's decline code when Stripe has one (insufficient_funds,
// generic_decline…), which says more than the error code (card_declined).
func declineReason(se *stripego.Error) string {
	switch {
	case se.DeclineCode != "":
		return string(se.DeclineCode)
	case se.Code != "":
		return string(se.Code)
	}
	return "card_declined"
}

// describe names se by the fields that are safe to log.
func describe(se *stripego.Error) string {
	parts := []string{fmt.Sprintf("status %d", se.HTTPStatusCode)}
	add := func(name, value string) {
		if value != "" {
			parts = append(parts, name+" "+value)
		}
	}
	add("type", string(se.Type))
	add("code", string(se.Code))
	add("decline code", string(se.DeclineCode))
	add("param", se.Param)
	add("request", se.RequestID)
	add("message", redactTokens(se.Msg))
	return strings.Join(parts, ", ")
}

// redactTokens drops card tokens from a Stripe message ("No such token: 'tok_…'"), which
// otherwise helps whoever reads the log: an invalid request names what Stripe objected to.
func redactTokens(msg string) string {
	// Compiled per call: this runs once per failed request, and the package keeps no state.
	return regexp.MustCompile(`tok_[A-Za-z0-9_]+`).ReplaceAllString(msg, "tok_[REDACTED]")
}
