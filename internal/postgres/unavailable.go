package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shopflow/orders/domain/fault"
)

// unavailable wraps err with fault.ErrUnavailable when it means PostgreSQL could not be
// reached or refused service for now (connection failures, shutdowns, resource exhaustion),
// as opposed to an answer about the data. The API then answers 503 instead of 500, and the
// message router retries such failures for as long as they last instead of spending a
// message's delivery budget on them.
func unavailable(err error) error {
	var se stepError
	if err == nil || errors.As(err, &se) || errors.Is(err, fault.ErrUnavailable) || !isUnavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", fault.ErrUnavailable, err)
}

func isUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 53: insufficient resources; 57P01-03: shutting down
		// or cannot connect now.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "53") ||
			pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	if errors.Is(err, context.Canceled) {
		return false // the caller gave up; nothing to retry on its behalf
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) ||
		pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}
