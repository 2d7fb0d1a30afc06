package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopflow/orders/domain/webhook"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/handlers/httpapi"
	"github.com/shopflow/orders/handlers/notifier"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/telemetry"
	"github.com/shopflow/orders/internal/webhooks"
)

// WebhookConfig is how webhooks go out (README, "Receiving webhooks").
type WebhookConfig struct {
	Policy   webhook.Policy  // WEBHOOK_ALLOW_INSECURE, WEBHOOK_ALLOW_PRIVATE: development only
	Schedule []time.Duration // WEBHOOK_RETRY_SCHEDULE; nil: webhook.DefaultSchedule
}

// webhookConfig reads the webhook settings from the environment.
func webhookConfig(getenv func(string) string) (WebhookConfig, error) {
	c := WebhookConfig{Policy: webhook.Policy{
		AllowInsecure: getenv("WEBHOOK_ALLOW_INSECURE") == "true",
		AllowPrivate:  getenv("WEBHOOK_ALLOW_PRIVATE") == "true",
	}}
	if s := getenv("WEBHOOK_RETRY_SCHEDULE"); s != "" {
		var err error
		if c.Schedule, err = webhook.ParseSchedule(s); err != nil {
			return c, err
		}
	}
	return c, nil
}

// webhookDeps are the API's webhook routes over store; hosts resolve with the system's
// resolver.
func webhookDeps(cfg Config, store *postgres.Store) httpapi.WebhookDeps {
	return httpapi.WebhookDeps{Store: store, Policy: cfg.Webhooks.Policy}
}

// addNotifier adds the notifier role: the handler that records deliveries from every event,
// and the dispatcher loop that sends them.
func (w *workers) addNotifier(d deps) error {
	h, err := notifier.NewHandler(d.store, httpapi.OrderDocument, d.log)
	if err != nil {
		return err
	}
	sub, err := w.subscriber(d, "notifier")
	if err != nil {
		return err
	}
	w.handle(d, events.ConsumerNotifierWebhooks, events.SubjectsOrderEvents, sub, h.Event)
	disp, err := webhooks.New(d.store, webhooks.Config{Schedule: d.cfg.Webhooks.Schedule, Policy: d.cfg.Webhooks.Policy,
		Tracer: d.tp.Tracer(telemetry.ScopeName)}, d.log, d.reg, time.Now)
	if err != nil {
		return err
	}
	w.loops = append(w.loops, disp.Run)
	return nil
}

const webhooksUsage = `usage: orders webhooks list ENDPOINT_ID [STATUS]
       orders webhooks redeliver ENDPOINT_ID DELIVERY_ID

list shows an endpoint's latest deliveries (pending, delivered or failed) with their
attempts; redeliver makes a delivery due again now, with a fresh retry schedule. The
storefront's own way is GET /v1/webhooks/{id}/deliveries and POST …/redeliver.`

// webhooksCommand is the operator's view of the delivery log.
func webhooksCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ok := len(args) >= 2 && (args[0] == "list" && len(args) <= 3 || args[0] == "redeliver" && len(args) == 3)
	if !ok {
		fmt.Fprintln(stderr, webhooksUsage)
		return usageError("webhooks: want list ENDPOINT_ID [STATUS] or redeliver ENDPOINT_ID DELIVERY_ID")
	}
	cfg, err := parseConfig("webhooks", nil, getenv, stderr)
	if err != nil {
		return err
	}
	store, pool, err := openStore(ctx, cfg, telemetry.Off(), nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	if args[0] == "redeliver" {
		if err := store.RedeliverWebhook(ctx, args[1], args[2]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "delivery %s is due\n", args[2])
		return nil
	}
	f := webhook.DeliveryFilter{EndpointID: args[1], Limit: 50}
	if len(args) == 3 {
		f.Status = webhook.Status(args[2])
	}
	page, _, err := store.ListWebhookDeliveries(ctx, f)
	if err != nil {
		return err
	}
	return printDeliveries(stdout, page)
}

func printDeliveries(out io.Writer, page []webhook.Delivery) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DELIVERY\tORDER\tTYPE\tVERSION\tSTATUS\tATTEMPTS\tLAST")
	for _, d := range page {
		last := "-"
		if n := len(d.Attempts); n > 0 {
			a := d.Attempts[n-1]
			last = fmt.Sprintf("%s %d %s %s", a.At.UTC().Format(time.RFC3339), a.HTTPStatus, a.Duration, strings.TrimSpace(a.Error))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\n", d.ID, d.OrderID, d.Type, d.Version, d.Status, len(d.Attempts), last)
	}
	return tw.Flush()
}
