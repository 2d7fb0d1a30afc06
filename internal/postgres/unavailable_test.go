package postgres

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

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

// Errors that say the server cannot serve now are outages; answers about the statement or the
// data are not.
func TestOutageCodes(t *testing.T) {
	for code, want := range map[string]bool{
		"08006": true, "53300": true, "58030": true, "57P01": true, "25006": true, "57014": true,
		"55P03": true, "40001": true, "40P01": true,
		"23505": false, "23514": false, "22003": false, "42P01": false, "XX000": false,
	} {
		err := unavailable(&pgconn.PgError{Code: code})
		if got := errors.Is(err, fault.ErrUnavailable); got != want {
			t.Errorf("SQLSTATE %s: outage %v, want %v", code, got, want)
		}
	}
}
