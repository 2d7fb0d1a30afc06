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
// reached or refused service for now (connection failures, shutdowns, resource exhaustion, a
// primary turned read-only by a failover, a statement or lock timeout, contention that kept
// deadlocking), as opposed to an answer about the data. The API then answers 503 instead of 500, and the
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
		return outageCode(pgErr.Code)
	}
	if errors.Is(err, context.Canceled) {
		return false // the caller gave up; nothing to retry on its behalf
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) ||
		pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}

// outageCode reports whether a SQLSTATE says the server cannot serve now, for reasons that
// lie with the server and pass, not with the statement or the data: class 08 (connection
// exception), 53 (insufficient resources), 58 (system error: I/O), 57P01-03 (shutting down,
// cannot connect now), 25006 (read-only transaction: a standby, or a primary during
// failover), 57014 (statement timeout), 55P03 (lock timeout), and 40001/40P01 when they
// outlast inTx's retries. Each is retried for as long as it lasts, and never counts toward
// giving up on a message.
func outageCode(code string) bool {
	switch code {
	case "57P01", "57P02", "57P03", "25006", "57014", "55P03", "40001", "40P01":
		return true
	}
	return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") || strings.HasPrefix(code, "58")
}
