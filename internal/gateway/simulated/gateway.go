// Package simulated is the default payment gateway: it behaves like Stripe's test mode for
// Stripe's test tokens and keeps its record of calls in PostgreSQL (gateway_sim_operations),
// so that the record outlives a crash of the process that made a call and is shared by every
// process of a fleet, as a real gateway's would be.
package simulated

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/orders/domain/payment"
)

// The test tokens that do not simply approve, named as Stripe names them.
const (
	TokenDeclined        = "tok_chargeDeclined"
	TokenProcessingError = "tok_chargeDeclinedProcessingError"
)

// MaxAmount is the largest amount the gateway holds: Stripe's, eight digits of minor units.
const MaxAmount = 99_999_999

// ErrKeyReused is returned when an idempotency key comes back with a different request (another
// operation, order, authorization or amount). Like Stripe, the gateway refuses rather than
// guess which of the two requests was meant; retrying cannot fix it.
var ErrKeyReused = errors.New("simulated: idempotency key reused for a different request")

// Gateway is the simulated gateway. It is safe for concurrent use, also by several processes
// on one database: every call is one transaction that locks the rows it decides on.
type Gateway struct {
	pool *pgxpool.Pool
	cfg  Config

	mu  sync.Mutex // guards rnd, which is not safe for concurrent use
	rnd *mathrand.Rand

	captures atomic.Int64 // captures this gateway committed, for ExitAfterCaptures
}

var _ payment.Gateway = (*Gateway)(nil)

// New returns a gateway on pool, whose database must hold the migrated gateway_sim_operations
// table. rnd drives the injected failures of cfg.FailureRate; authorization IDs come from
// crypto/rand so that processes seeded alike never collide.
func New(pool *pgxpool.Pool, cfg Config, rnd *mathrand.Rand) (*Gateway, error) {
	if pool == nil {
		return nil, errors.New("simulated gateway: nil pool")
	}
	if rnd == nil {
		return nil, errors.New("simulated gateway: nil random source")
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("simulated gateway config: %w", err)
	}
	return &Gateway{pool: pool, cfg: cfg.withDefaults(), rnd: rnd}, nil
}

// Authorize holds req.Amount. tok_chargeDeclined is declined ("card_declined"),
// tok_chargeDeclinedProcessingError fails with payment.ErrTransient Config.TransientFailures
// times for its key and is then approved, and any other token is approved. A key that already
// has an outcome gets that outcome again; a key reused for another request gets ErrKeyReused.
// An amount of 0 or less is declined as "amount_too_small", one over MaxAmount as
// "amount_too_large", as Stripe does, before anything is recorded.
func (g *Gateway) Authorize(ctx context.Context, req payment.AuthorizeRequest) (payment.Authorization, error) {
	if err := validateAuthorize(req); err != nil {
		return payment.Authorization{}, fmt.Errorf("simulated authorize: %w", err)
	}
	if err := refuseAmount(req.Amount); err != nil {
		return payment.Authorization{}, fmt.Errorf("simulated authorize %s: amount %d: %w", req.OrderID, req.Amount, err)
	}
	if err := g.arrive(ctx); err != nil {
		return payment.Authorization{}, fmt.Errorf("simulated authorize %s: %w", req.OrderID, err)
	}
	want := record{
		operation: payment.OpAuthorize, orderID: req.OrderID,
		amount: req.Amount, currency: strings.ToUpper(req.Currency),
	}
	var got record
	var failed bool
	err := g.inTx(ctx, func(tx pgx.Tx) error {
		rec, err := claim(ctx, tx, req.IdempotencyKey, want)
		if err != nil {
			return err
		}
		if rec.outcome != "" {
			got = rec
			return replay(ctx, tx, req.IdempotencyKey)
		}
		if req.Token == TokenProcessingError && rec.transientFailures < g.cfg.TransientFailures {
			failed = true
			return countTransient(ctx, tx, req.IdempotencyKey)
		}
		got = g.decideAuthorize(rec, req.Token)
		return decide(ctx, tx, req.IdempotencyKey, got)
	})
	switch {
	case err != nil:
		return payment.Authorization{}, fmt.Errorf("simulated authorize %s: %w", req.OrderID, err)
	case failed:
		return payment.Authorization{}, fmt.Errorf("simulated authorize %s: processing error: %w", req.OrderID, payment.ErrTransient)
	}
	if err := got.err(); err != nil {
		return payment.Authorization{}, fmt.Errorf("simulated authorize %s: %w", req.OrderID, err)
	}
	return got.authorization(), nil
}

// decideAuthorize is the first outcome of an authorization with token.
func (g *Gateway) decideAuthorize(rec record, token string) record {
	if token == TokenDeclined {
		rec.outcome, rec.reason = outcomeDeclined, "card_declined"
		return rec
	}
	rec.outcome, rec.authID = outcomeApproved, "simauth_"+rand.Text()
	return rec
}

// Find returns the approved authorization recorded under the authorize key idempotencyKey
// for orderID, or payment.ErrNotFound (also when that authorization was declined).
func (g *Gateway) Find(ctx context.Context, idempotencyKey, orderID string) (payment.Authorization, error) {
	if err := g.arrive(ctx); err != nil {
		return payment.Authorization{}, fmt.Errorf("simulated find %s: %w", orderID, err)
	}
	auth := payment.Authorization{}
	err := g.pool.QueryRow(ctx, `
		SELECT authorization_id, amount, currency FROM gateway_sim_operations
		WHERE idempotency_key = $1 AND order_id = $2 AND operation = 'authorize' AND outcome = 'approved'`,
		idempotencyKey, orderID).Scan(&auth.ID, &auth.Amount, &auth.Currency)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return payment.Authorization{}, fmt.Errorf("simulated find %s (key %s): %w", orderID, idempotencyKey, payment.ErrNotFound)
	case err != nil:
		return payment.Authorization{}, fmt.Errorf("simulated find %s: %w", orderID, transient(err))
	}
	return auth, nil
}

// arrive is what happens before a call reaches the gateway's record: network latency and,
// at Config.FailureRate, a failure that leaves no trace (so a retry is always safe).
func (g *Gateway) arrive(ctx context.Context) error {
	if g.cfg.Latency > 0 {
		t := time.NewTimer(g.cfg.Latency)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return transient(ctx.Err())
		case <-t.C:
		}
	}
	if g.cfg.FailureRate > 0 && g.float64() < g.cfg.FailureRate {
		return fmt.Errorf("injected failure: %w", payment.ErrTransient)
	}
	return nil
}

func (g *Gateway) float64() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rnd.Float64()
}

// inTx runs fn in one transaction. Errors before the commit leave no record, so they are
// transient; a failed commit may or may not have been applied, so its outcome is unknown.
//
// The commit does not wait for its WAL flush (synchronous_commit off): this bookkeeping stands
// in for a payment provider's, which costs us nothing of our own PostgreSQL's, and waiting for
// it doubled the synced commits of a payment step (issue 12). It is still visible to every
// session at once and survives any crash of ours; only a crash of the PostgreSQL server itself
// could forget its last fraction of a second, which no test of ours simulates.
func (g *Gateway) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := g.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", transient(err))
	}
	// The rollback after a commit is a no-op; its error says nothing new.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		return fmt.Errorf("begin: %w", transient(err))
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%w: commit: %w", payment.ErrUnknownOutcome, err)
	}
	return nil
}

// transient marks a failure of the gateway's own storage as retryable.
func transient(err error) error {
	return fmt.Errorf("%w: %w", payment.ErrTransient, err)
}

func validateAuthorize(req payment.AuthorizeRequest) error {
	var errs []error
	if req.IdempotencyKey == "" {
		errs = append(errs, errors.New("empty idempotency key"))
	}
	if req.OrderID == "" {
		errs = append(errs, errors.New("empty order id"))
	}
	if len(req.Currency) != 3 {
		errs = append(errs, fmt.Errorf("currency %q is not an ISO 4217 code", req.Currency))
	}
	return errors.Join(errs...)
}

// refuseAmount declines an amount the gateway does not hold. The amount is the order's
// total, which no retry changes: a decline makes the saga cancel the order.
func refuseAmount(amount int64) error {
	switch {
	case amount <= 0:
		return &payment.DeclineError{Reason: payment.ReasonAmountTooSmall}
	case amount > MaxAmount:
		return &payment.DeclineError{Reason: payment.ReasonAmountTooLarge}
	}
	return nil
}

// Abandon returns the approved authorization recorded under req's key, or payment.ErrNotFound
// when there is none; a key without an outcome yet (unused, or only transient failures) is
// declined as payment.ReasonAbandoned first, so that a later Authorize with it holds nothing.
// It locks the key's row as Authorize does, so an Authorize in flight finishes first: its
// record is authoritative, unlike a search.
func (g *Gateway) Abandon(ctx context.Context, req payment.AuthorizeRequest) (payment.Authorization, error) {
	if err := validateAuthorize(req); err != nil {
		return payment.Authorization{}, fmt.Errorf("simulated abandon: %w", err)
	}
	if refuseAmount(req.Amount) != nil { // Authorize declines it before recording anything
		return payment.Authorization{}, fmt.Errorf("simulated abandon %s: amount %d never held: %w", req.OrderID, req.Amount, payment.ErrNotFound)
	}
	if err := g.arrive(ctx); err != nil {
		return payment.Authorization{}, fmt.Errorf("simulated abandon %s: %w", req.OrderID, err)
	}
	want := record{
		operation: payment.OpAuthorize, orderID: req.OrderID,
		amount: req.Amount, currency: strings.ToUpper(req.Currency),
	}
	var got record
	err := g.inTx(ctx, func(tx pgx.Tx) error {
		rec, err := claim(ctx, tx, req.IdempotencyKey, want)
		if err != nil {
			return err
		}
		if rec.outcome == "" {
			rec.outcome, rec.reason = outcomeDeclined, payment.ReasonAbandoned
			if err := decide(ctx, tx, req.IdempotencyKey, rec); err != nil {
				return err
			}
		}
		got = rec
		return nil
	})
	switch {
	case err != nil:
		return payment.Authorization{}, fmt.Errorf("simulated abandon %s: %w", req.OrderID, err)
	case got.outcome != outcomeApproved:
		return payment.Authorization{}, fmt.Errorf("simulated abandon %s (key %s, %s): %w", req.OrderID, req.IdempotencyKey, got.reason, payment.ErrNotFound)
	}
	return got.authorization(), nil
}
