package simulated

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/payment"
)

// The outcomes a row of gateway_sim_operations can hold; empty means none yet (only
// transient failures so far).
const (
	outcomeApproved = "approved"
	outcomeDeclined = "declined"
)

// record is one row of gateway_sim_operations: one idempotency key and what it asked for and
// got.
type record struct {
	operation         payment.Operation
	orderID           string
	authID            string
	amount            int64
	currency          string
	outcome           string
	reason            string
	transientFailures int
}

// err is the error a caller gets for r's outcome.
func (r record) err() error {
	if r.outcome == outcomeDeclined {
		return &payment.DeclineError{Reason: r.reason}
	}
	return nil
}

func (r record) authorization() payment.Authorization {
	return payment.Authorization{ID: r.authID, Amount: r.amount, Currency: r.currency}
}

// sameRequest reports whether a stored row was made by the request want describes. An
// authorize request does not name its authorization; the row learns it from the outcome.
func (r record) sameRequest(want record) bool {
	same := r.operation == want.operation && r.orderID == want.orderID &&
		r.amount == want.amount && r.currency == want.currency
	if want.operation != payment.OpAuthorize {
		same = same && r.authID == want.authID
	}
	return same
}

// claim returns the row of key, creating it from want when the key is new, and locks it until
// the transaction ends: concurrent calls with one key queue here, and each one after the first
// finds the first one's outcome. A row made by another request is ErrKeyReused.
func claim(ctx context.Context, tx pgx.Tx, key string, want record) (record, error) {
	_, err := tx.Exec(ctx, `
		INSERT INTO gateway_sim_operations (idempotency_key, operation, order_id, authorization_id, amount, currency)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (idempotency_key) DO NOTHING`,
		key, string(want.operation), want.orderID, want.authID, want.amount, want.currency)
	if err != nil {
		return record{}, fmt.Errorf("record %s: %w", key, transient(err))
	}
	var rec record
	var op string
	err = tx.QueryRow(ctx, `
		SELECT operation, order_id, authorization_id, amount, currency, outcome, decline_reason, transient_failures
		FROM gateway_sim_operations WHERE idempotency_key = $1 FOR UPDATE`, key).
		Scan(&op, &rec.orderID, &rec.authID, &rec.amount, &rec.currency, &rec.outcome, &rec.reason, &rec.transientFailures)
	if err != nil {
		return record{}, fmt.Errorf("lock %s: %w", key, transient(err))
	}
	rec.operation = payment.Operation(op)
	if !rec.sameRequest(want) {
		return record{}, fmt.Errorf("%w: key %s was used for %s of order %q", ErrKeyReused, key, rec.operation, rec.orderID)
	}
	return rec, nil
}

// replay counts one more call that got the key's first outcome again.
func replay(ctx context.Context, tx pgx.Tx, key string) error {
	return exec(ctx, tx, key, `
		UPDATE gateway_sim_operations SET replays = replays + 1, updated_at = now()
		WHERE idempotency_key = $1`)
}

// countTransient counts one more transient failure of the key's call; it stays without an
// outcome.
func countTransient(ctx context.Context, tx pgx.Tx, key string) error {
	return exec(ctx, tx, key, `
		UPDATE gateway_sim_operations SET transient_failures = transient_failures + 1, updated_at = now()
		WHERE idempotency_key = $1`)
}

// decide stores the key's outcome, final from now on.
func decide(ctx context.Context, tx pgx.Tx, key string, rec record) error {
	_, err := tx.Exec(ctx, `
		UPDATE gateway_sim_operations
		SET outcome = $2, decline_reason = $3, authorization_id = $4, updated_at = now()
		WHERE idempotency_key = $1`, key, rec.outcome, rec.reason, rec.authID)
	if err != nil {
		return fmt.Errorf("decide %s: %w", key, transient(err))
	}
	return nil
}

func exec(ctx context.Context, tx pgx.Tx, key, sql string) error {
	if _, err := tx.Exec(ctx, sql, key); err != nil {
		return fmt.Errorf("update %s: %w", key, transient(err))
	}
	return nil
}
