package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/internal/saga"
	"github.com/shopflow/orders/internal/telemetry"
)

const attentionUsage = `usage: orders attention resolve ORDER_ID

Settles an order parked in needs_attention (a void or refund kept failing) once the cause is
fixed: it returns the order to the status it was parked from and runs the cancellation that
status calls for, through the configured payment gateway. List parked orders with
GET /v1/orders?status=needs_attention (admin key). The database and gateway settings are the
service's (DATABASE_URL, PAYMENT_GATEWAY, STRIPE_API_KEY…).`

// attentionCommand is the operator's way out of needs_attention.
func attentionCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "resolve" {
		fmt.Fprintln(stderr, attentionUsage)
		return usageError("attention: want resolve ORDER_ID")
	}
	cfg, err := parseConfig("attention", nil, getenv, stderr)
	if err != nil {
		return err
	}
	store, pool, err := openStore(ctx, cfg, telemetry.Off(), nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	gw, closeGateway, err := newGateway(ctx, cfg, telemetry.Off())
	if err != nil {
		return err
	}
	defer closeGateway()
	// The operator's command counts nothing that anyone scrapes.
	stats, err := saga.NewStats(prometheus.NewRegistry())
	if err != nil {
		return err
	}
	uc, err := saga.New(store, gw, newLogger(cfg, stderr), stats, time.Now, saga.WithCaptureOnAuthorize())
	if err != nil {
		return err
	}
	if err := uc.Resolve(ctx, args[1]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "order %s resolved\n", args[1])
	return nil
}
