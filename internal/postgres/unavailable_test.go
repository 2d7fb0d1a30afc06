package postgres

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/shopflow/orders/domain/fault"
)

// A network error of the payment gateway, returned by a saga step, is not a PostgreSQL outage;
// the same error from the database is.
func TestStepErrorsAreNotClassifiedAsOutages(t *testing.T) {
	gatewayDown := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	if err := unavailable(stepError{gatewayDown}); errors.Is(err, fault.ErrUnavailable) {
		t.Errorf("a step's network error became %v", err)
	}
	if err := unavailable(gatewayDown); !errors.Is(err, fault.ErrUnavailable) {
		t.Errorf("the database's network error is %v, want unavailable", err)
	}
	if err := unavailable(context.Canceled); errors.Is(err, fault.ErrUnavailable) {
		t.Error("a cancelled context is not an outage")
	}
}
