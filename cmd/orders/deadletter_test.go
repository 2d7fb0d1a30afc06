package main

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"

	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/testenv"
)

// TestUndecodableCommandIsDeadLettered publishes messages the inventory worker can never
// process; each must land in the dead-letter stream with its reason, be counted, and leave
// the consumer with nothing pending (never redelivered forever), while good orders still flow.
func TestUndecodableCommandIsDeadLettered(t *testing.T) {
	t.Parallel()
	natsAddr := freeAddr(t)
	dbURL := testenv.DatabaseURL(t)
	in := startInstance(t, "run", map[string]string{"DATABASE_URL": dbURL, "DATA_DIR": t.TempDir(), "NATS_LISTEN": natsAddr})
	js := testenv.Connect(t, "nats://"+natsAddr)
	ctx := context.Background()
	bad := []*nats.Msg{
		{Subject: events.SubjectPlaceOrder, Data: []byte("not json"), Header: nats.Header{}}, // no metadata at all
		{Subject: events.SubjectPlaceOrder, Data: []byte(`{"order_id":`), Header: nats.Header{
			events.MetaName: {events.NamePlaceOrder}, events.MetaOrderID: {"0190c5a0-0000-7000-8000-000000000001"},
			events.MetaCorrelationID: {"c"}, events.MetaOccurredAt: {time.Now().UTC().Format(time.RFC3339Nano)},
		}}, // right headers, truncated payload
	}
	for _, m := range bad {
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	c := newClient(in.api)
	c.setStock(t, "SKU-1", 5)
	id, res, err := c.placeOrder("good", orderBody("c-1", line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100}))
	if err != nil || id == "" {
		t.Fatalf("good order: %v %d %s", err, res.status, res.body)
	}
	waitSettled(t, connectDB(t, dbURL), []string{id}, 30*time.Second)

	dlq, err := js.Stream(ctx, events.StreamDeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool {
		info, err := dlq.Info(ctx)
		return err == nil && info.State.Msgs == uint64(len(bad))
	})
	for seq := uint64(1); seq <= uint64(len(bad)); seq++ {
		m, err := dlq.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if reason := m.Header.Get(middleware.ReasonForPoisonedKey); reason == "" || !contains(reason, "malformed") {
			t.Errorf("dead letter %d: reason %q, want one that says the message is malformed", seq, reason)
		}
	}
	cons, err := js.Consumer(ctx, events.StreamCommands, events.ConsumerInventoryPlaceOrder)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
	if got := metricValue(t, in.admin, `orders_dead_letters_total{handler="inventory-place-order"}`); got != float64(len(bad)) {
		t.Errorf("orders_dead_letters_total = %v, want %d", got, len(bad))
	}
}

// metricValue scrapes one sample from an instance's /metrics.
func metricValue(t *testing.T, admin, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape(t, admin))
	if m == nil {
		t.Fatalf("no sample %s in /metrics", series)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
