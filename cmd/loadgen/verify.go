package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

type verification struct {
	OK       bool     `json:"ok"`
	Problems []string `json:"problems,omitempty"`
}

// verify checks, after a run, what the backend promises: every accepted order settled, stock
// conserved (nothing reserved once all settled; units that left on_hand are those of confirmed
// orders — counted over the run's SKUs, which the run stocked), and money matching orders in
// the gateway's record (checkMoney).
func verify(ctx context.Context, cfg config, res *result) *verification {
	v := &verification{OK: true}
	fail := func(format string, args ...any) {
		v.OK = false
		v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
	}
	if res.Settled != res.Accepted {
		fail("%d of %d accepted orders settled within %s", res.Settled, res.Accepted, cfg.settleWait)
	}
	conn, err := pgx.Connect(ctx, cfg.databaseURL)
	if err != nil {
		fail("connect to the database: %v", err)
		return v
	}
	defer conn.Close(ctx)
	skus := make([]string, cfg.skus)
	for i := range skus {
		skus[i] = sku(i)
	}
	var onHand, reserved, confirmedUnits, negative int64
	err = conn.QueryRow(ctx, `SELECT COALESCE(sum(on_hand), 0), COALESCE(sum(reserved), 0), count(*) FILTER (WHERE available < 0),
		(SELECT COALESCE(sum(l.quantity), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id
		 WHERE o.status = 'confirmed' AND l.sku = ANY($1) AND o.customer_id LIKE $2 || '-%')
		FROM stock WHERE sku = ANY($1)`, skus, cfg.prefix).Scan(&onHand, &reserved, &negative, &confirmedUnits)
	if err != nil {
		fail("read stock: %v", err)
		return v
	}
	if cfg.stock > 0 && int64(cfg.stock*cfg.skus)-onHand != confirmedUnits {
		fail("%d units left on_hand, confirmed orders of this run hold %d", int64(cfg.stock*cfg.skus)-onHand, confirmedUnits)
	}
	if reserved != 0 || negative != 0 {
		fail("%d units still reserved, %d SKUs below zero", reserved, negative)
	}
	checkMoney(ctx, conn, cfg, fail)
	return v
}

// checkMoney compares the simulated gateway's record with the orders of this run: every
// captured order is confirmed or refunded and every one of those was captured; refunds match
// refunded orders; every hold of an order settled without a sale (cancelled, expired) was voided
// or refunded, so no customer is left charged or held.
func checkMoney(ctx context.Context, conn *pgx.Conn, cfg config, fail func(string, ...any)) {
	var capturedNotSold, soldNotCaptured, refundMismatch, heldAfterCancel int
	err := conn.QueryRow(ctx, `WITH run AS (SELECT id::text AS id, status FROM orders WHERE customer_id LIKE $1 || '-%'),
		ops AS (SELECT order_id, operation FROM gateway_sim_operations WHERE outcome = 'approved' AND order_id IN (SELECT id FROM run))
		SELECT
		  (SELECT count(*) FROM run WHERE status NOT IN ('confirmed', 'refunded') AND id IN (SELECT order_id FROM ops WHERE operation = 'capture')),
		  (SELECT count(*) FROM run WHERE status IN ('confirmed', 'refunded') AND id NOT IN (SELECT order_id FROM ops WHERE operation = 'capture')),
		  (SELECT count(*) FROM run WHERE (status = 'refunded') <> (id IN (SELECT order_id FROM ops WHERE operation = 'refund'))),
		  (SELECT count(*) FROM run WHERE status IN ('cancelled', 'expired') AND id IN (SELECT order_id FROM ops WHERE operation = 'authorize')
		     AND id NOT IN (SELECT order_id FROM ops WHERE operation IN ('void', 'refund')))`, cfg.prefix).
		Scan(&capturedNotSold, &soldNotCaptured, &refundMismatch, &heldAfterCancel)
	if err != nil {
		fail("read the gateway's record: %v", err)
		return
	}
	if capturedNotSold+soldNotCaptured+refundMismatch+heldAfterCancel > 0 {
		fail("gateway vs orders: %d captured but not sold, %d sold but not captured, %d refund mismatches, %d cancelled or expired with a hold left",
			capturedNotSold, soldNotCaptured, refundMismatch, heldAfterCancel)
	}
}
