package simulated

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/payment"
)

// Capture takes the held amount of auth. It is declined with "authorization_voided" after a
// void, "already_captured" after another capture, "amount_mismatch" when auth's amount or
// currency is not the authorization's, and "no_such_authorization" for an unknown ID.
func (g *Gateway) Capture(ctx context.Context, idempotencyKey string, auth payment.Authorization) error {
	return g.settle(ctx, payment.OpCapture, idempotencyKey, auth)
}

// Void releases the hold of auth. It is declined with "already_captured" after a capture and
// "authorization_voided" after another void, and like Capture for a mismatch or unknown ID.
func (g *Gateway) Void(ctx context.Context, idempotencyKey string, auth payment.Authorization) error {
	return g.settle(ctx, payment.OpVoid, idempotencyKey, auth)
}

// Refund returns the captured amount of auth. It is declined with "not_captured" before a
// capture and "already_refunded" after another refund, and like Capture for a mismatch or
// unknown ID.
func (g *Gateway) Refund(ctx context.Context, idempotencyKey string, auth payment.Authorization) error {
	return g.settle(ctx, payment.OpRefund, idempotencyKey, auth)
}

// held is an approved authorization as recorded, and what has happened to it since.
type held struct {
	orderID, currency          string
	amount                     int64
	captured, voided, refunded bool
}

// settle makes op on auth under key: one transaction that locks the authorization first and
// the key's row second, in that order on every path, so concurrent operations on one
// authorization queue instead of deadlocking, and each sees the ones committed before it.
func (g *Gateway) settle(ctx context.Context, op payment.Operation, key string, auth payment.Authorization) error {
	if key == "" || auth.ID == "" {
		return fmt.Errorf("simulated %s: empty idempotency key or authorization id", op)
	}
	if err := g.arrive(ctx); err != nil {
		return fmt.Errorf("simulated %s %s: %w", op, auth.ID, err)
	}
	var got record
	var fresh bool
	err := g.inTx(ctx, func(tx pgx.Tx) error {
		h, found, err := lockAuthorization(ctx, tx, auth.ID)
		if err != nil {
			return err
		}
		want := record{operation: op, orderID: h.orderID, authID: auth.ID, amount: auth.Amount, currency: strings.ToUpper(auth.Currency)}
		rec, err := claim(ctx, tx, key, want)
		if err != nil {
			return err
		}
		if rec.outcome != "" {
			got = rec
			return replay(ctx, tx, key)
		}
		rec.outcome = outcomeApproved
		if rec.reason = refusal(op, want, h, found); rec.reason != "" {
			rec.outcome = outcomeDeclined
		}
		got, fresh = rec, rec.outcome == outcomeApproved
		return decide(ctx, tx, key, rec)
	})
	if err != nil {
		return fmt.Errorf("simulated %s %s: %w", op, auth.ID, err)
	}
	if fresh && op == payment.OpCapture {
		g.capturedOne()
	}
	if err := got.err(); err != nil {
		return fmt.Errorf("simulated %s %s: %w", op, auth.ID, err)
	}
	return nil
}

// capturedOne counts a committed capture and, at Config.ExitAfterCaptures, dies: after the
// gateway's record is durable and before the caller hears of it.
func (g *Gateway) capturedOne() {
	if n := g.captures.Add(1); g.cfg.ExitAfterCaptures > 0 && n == int64(g.cfg.ExitAfterCaptures) {
		g.cfg.Exit(ExitCode)
	}
}

// refusal is the decline reason of op on the authorization h, or "" to approve it.
func refusal(op payment.Operation, want record, h held, found bool) string {
	switch {
	case !found:
		return "no_such_authorization"
	case want.amount != h.amount || want.currency != h.currency:
		return "amount_mismatch"
	}
	switch op {
	case payment.OpCapture:
		if h.voided {
			return "authorization_voided"
		}
		if h.captured {
			return "already_captured"
		}
	case payment.OpVoid:
		if h.captured {
			return "already_captured"
		}
		if h.voided {
			return "authorization_voided"
		}
	case payment.OpRefund:
		if !h.captured {
			return "not_captured"
		}
		if h.refunded {
			return "already_refunded"
		}
	}
	return ""
}

// lockAuthorization locks the approved authorization id and reads what has been done to it.
// The read is a statement of its own, after the lock, so that under READ COMMITTED it sees
// every operation committed by whoever held the lock before.
func lockAuthorization(ctx context.Context, tx pgx.Tx, id string) (held, bool, error) {
	var h held
	err := tx.QueryRow(ctx, `
		SELECT order_id, amount, currency FROM gateway_sim_operations
		WHERE authorization_id = $1 AND operation = 'authorize' AND outcome = 'approved'
		FOR UPDATE`, id).Scan(&h.orderID, &h.amount, &h.currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return held{}, false, nil
	}
	if err != nil {
		return held{}, false, fmt.Errorf("lock authorization: %w", transient(err))
	}
	rows, err := tx.Query(ctx, `
		SELECT operation FROM gateway_sim_operations
		WHERE authorization_id = $1 AND operation <> 'authorize' AND outcome = 'approved'`, id)
	if err != nil {
		return held{}, false, fmt.Errorf("read authorization: %w", transient(err))
	}
	ops, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return held{}, false, fmt.Errorf("read authorization: %w", transient(err))
	}
	for _, op := range ops {
		switch payment.Operation(op) {
		case payment.OpCapture:
			h.captured = true
		case payment.OpVoid:
			h.voided = true
		case payment.OpRefund:
			h.refunded = true
		}
	}
	return h, true, nil
}
