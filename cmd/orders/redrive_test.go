package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/testenv"
)

// TestDeadLettersListAndRedrive: an operator lists the dead-letter stream (a message dead-
// lettered for real shows its reason) and redrives a command whose cause was fixed: it is
// processed where it came from and leaves the dead-letter stream.
func TestDeadLettersListAndRedrive(t *testing.T) {
	t.Parallel()
	natsAddr := freeAddr(t)
	dbURL := testenv.DatabaseURL(t)
	in := startInstance(t, "run", map[string]string{"DATABASE_URL": dbURL, "DATA_DIR": t.TempDir(), "NATS_LISTEN": natsAddr})
	newClient(in.api).setStock(t, "SKU-1", 5)
	js := testenv.Connect(t, "nats://"+natsAddr)
	ctx := context.Background()
	if _, err := js.Publish(ctx, events.SubjectPlaceOrder, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	// A good command dead-lettered earlier (say, by a bug since fixed).
	const id = "0195a0c4-6c1e-7d2a-9b7e-00000000f001"
	cmd, err := events.NewPlaceOrder(order.PlaceParams{ID: id, Storefront: "shop-a", CustomerID: "c", Currency: "EUR",
		Lines: []order.Line{{SKU: "SKU-1", Quantity: 2, UnitPrice: 300}}, PaymentToken: "tok_visa", AcceptedAt: time.Now()}, "corr")
	if err != nil {
		t.Fatal(err)
	}
	dl := nats.NewMsg(events.SubjectDeadLetters)
	dl.Data = cmd.Payload
	for k, v := range cmd.Metadata() {
		dl.Header[k] = []string{v}
	}
	dl.Header[jetstream.MsgIDHeader] = []string{cmd.ID}
	dl.Header[middleware.PoisonedTopicKey] = []string{events.SubjectPlaceOrder}
	dl.Header[middleware.ReasonForPoisonedKey] = []string{"a bug, since fixed"}
	if _, err := js.PublishMsg(ctx, dl); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NATS_URL": "nats://" + natsAddr}
	getenv := func(k string) string { return env[k] }
	var out bytes.Buffer
	waitFor(t, 20*time.Second, func() bool {
		out.Reset()
		return run(ctx, []string{"deadletters", "list"}, getenv, &out, &out) == nil && strings.Count(out.String(), "\n") == 3
	})
	if !strings.Contains(out.String(), "malformed") || !strings.Contains(out.String(), "a bug, since fixed") || !strings.Contains(out.String(), id) {
		t.Fatalf("deadletters list:\n%s", out.String())
	}
	var seq string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, id) {
			seq = strings.Fields(l)[0]
		}
	}
	out.Reset()
	if err := run(ctx, []string{"deadletters", "redrive", seq}, getenv, &out, &out); err != nil {
		t.Fatalf("redrive %s: %v\n%s", seq, err, out.String())
	}
	waitAllSettled(t, connectDB(t, dbURL), []string{id}, 30*time.Second)
	out.Reset()
	if err := run(ctx, []string{"deadletters", "list"}, getenv, &out, &out); err != nil || strings.Contains(out.String(), id) {
		t.Errorf("after the redrive the list still holds it (%v):\n%s", err, out.String())
	}
	if err := run(ctx, []string{"deadletters", "redrive"}, getenv, &out, &out); exitCode(err) != 2 {
		t.Errorf("redrive without targets: %v, want a usage error", err)
	}
}
