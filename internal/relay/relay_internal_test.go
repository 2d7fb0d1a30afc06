package relay

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/broker"
	"github.com/shopflow/orders/internal/testenv"
)

func env(order, name string) events.Envelope {
	return events.Envelope{
		ID: uuid.NewString(), Subject: events.EventSubject(name), Name: name, OrderID: order,
		CorrelationID: uuid.NewString(), OccurredAt: time.Now(), Payload: []byte(`{}`),
	}
}

func ids(envs []events.Envelope) []string {
	out := make([]string, len(envs))
	for i, e := range envs {
		out[i] = e.ID
	}
	return out
}

func TestWavesHoldOneEventPerOrderInBatchOrder(t *testing.T) {
	a, b, c := uuid.NewString(), uuid.NewString(), uuid.NewString()
	batch := []events.Envelope{
		env(a, events.NameOrderPlaced), env(a, events.NameStockReserved), env(b, events.NameOrderPlaced),
		env(a, events.NamePaymentAuthorized), env(c, events.NameOrderPlaced), env(b, events.NameOrderRejected),
	}
	got := waves(batch)
	want := [][]events.Envelope{
		{batch[0], batch[2], batch[4]},
		{batch[1], batch[5]},
		{batch[3]},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d waves, want %d", len(got), len(want))
	}
	for i := range want {
		if !slices.Equal(ids(got[i]), ids(want[i])) {
			t.Errorf("wave %d = %v, want %v", i, ids(got[i]), ids(want[i]))
		}
	}
	if w := waves(nil); len(w) != 0 {
		t.Errorf("waves(nil) = %v, want none", w)
	}
}

// TestPartialFailureKeepsPerOrderOrder makes JetStream refuse one event of a batch while it
// would take the order's next one, the case where a single pipelined publish stores the next
// event first. The relay's waves never send the next event, and the retry stores both in order.
func TestPartialFailureKeepsPerOrderOrder(t *testing.T) {
	ctx := context.Background()
	js := testenv.Connect(t, testenv.JetStream(t))
	stream, err := js.Stream(ctx, events.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	open := stream.CachedInfo().Config
	full := open
	full.MaxMsgsPerSubject, full.Discard, full.DiscardNewPerSubject = 1, jetstream.DiscardNew, true
	if _, err := js.UpdateStream(ctx, full); err != nil {
		t.Fatal(err)
	}
	pub, err := broker.NewEnvelopePublisher(js)
	if err != nil {
		t.Fatal(err)
	}
	// Fill order.placed's subject, so that the next order.placed is refused.
	if err := pub.Publish(ctx, env(uuid.NewString(), events.NameOrderPlaced)); err != nil {
		t.Fatal(err)
	}

	a, b := uuid.NewString(), uuid.NewString()
	batch := []events.Envelope{env(a, events.NameOrderPlaced), env(b, events.NameOrderRejected), env(a, events.NameStockReserved)}
	if err := publishInWaves(ctx, pub, batch); err == nil {
		t.Fatal("publishing into a full subject succeeded; the test's premise is broken")
	}
	if got := storedIDs(t, js, a); len(got) != 0 {
		t.Fatalf("after the failed batch, order %s has %v stored; its first event failed, so nothing may follow it", a, got)
	}

	if _, err := js.UpdateStream(ctx, open); err != nil {
		t.Fatal(err)
	}
	if err := publishInWaves(ctx, pub, batch); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got, want := storedIDs(t, js, a), []string{batch[0].ID, batch[2].ID}; !slices.Equal(got, want) {
		t.Errorf("order %s stored as %v, want %v", a, got, want)
	}
	if got, want := storedIDs(t, js, b), []string{batch[1].ID}; !slices.Equal(got, want) {
		t.Errorf("order %s stored as %v (the retry must be deduplicated), want %v", b, got, want)
	}
}

// storedIDs lists, in stream order, the message ids stored in the events stream for order.
func storedIDs(t *testing.T, js jetstream.JetStream, order string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, events.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		if m.Header.Get(events.MetaOrderID) == order {
			out = append(out, m.Header.Get(jetstream.MsgIDHeader))
		}
	}
	return out
}

// countingPublisher counts the atomic batches that were stored.
type countingPublisher struct {
	*broker.EnvelopePublisher
	atomic int
}

func (c *countingPublisher) PublishAtomic(ctx context.Context, envs ...events.Envelope) error {
	err := c.EnvelopePublisher.PublishAtomic(ctx, envs...)
	if err == nil {
		c.atomic++
	}
	return err
}

// batchOf is n orders' placed and reserved events, interleaved as an outbox holds them.
func batchOf(n int) ([]events.Envelope, []string) {
	var envs []events.Envelope
	var orders []string
	for range n {
		o := uuid.NewString()
		orders = append(orders, o)
		envs = append(envs, env(o, events.NameOrderPlaced))
	}
	for _, o := range orders {
		envs = append(envs, env(o, events.NameStockReserved))
	}
	return envs, orders
}

// With Config.Atomic a batch of 16 events or more is stored as one atomic batch; one holding
// an event stored before (a relay that crashed between publish and delete) is refused whole by
// JetStream, and the relay stores it in waves instead: every event once, each order's in its
// order. A smaller batch goes in waves.
func TestAtomicBatchFallsBackToWavesOverAnEventStoredBefore(t *testing.T) {
	ctx := context.Background()
	js := testenv.Connect(t, testenv.JetStream(t))
	ep, err := broker.NewEnvelopePublisher(js)
	if err != nil {
		t.Fatal(err)
	}
	pub := &countingPublisher{EnvelopePublisher: ep}
	r := &Relay{pub: pub, cfg: Config{Atomic: true}, log: slog.New(slog.DiscardHandler)}
	check := func(envs []events.Envelope, orders []string) {
		t.Helper()
		for i, o := range orders {
			if got, want := storedIDs(t, js, o), []string{envs[i].ID, envs[len(orders)+i].ID}; !slices.Equal(got, want) {
				t.Errorf("order %s stored as %v, want %v (once each, in order)", o, got, want)
			}
		}
	}

	fresh, orders := batchOf(8)
	if err := r.publish(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	check(fresh, orders)
	if pub.atomic != 1 {
		t.Errorf("%d atomic batches stored for a batch of %d events, want 1", pub.atomic, len(fresh))
	}
	if err := ep.PublishAtomic(ctx, fresh[1]); !errors.Is(err, broker.ErrStoredBefore) {
		t.Errorf("an atomic batch of an event stored before: %v, want ErrStoredBefore", err)
	}

	retried, orders := batchOf(8)
	retried[0] = fresh[0] // its first event was stored before the crash
	orders[0] = fresh[0].OrderID
	retried[8] = fresh[8]
	if err := r.publish(ctx, retried); err != nil {
		t.Fatal(err)
	}
	check(retried, orders)
	if pub.atomic != 1 {
		t.Errorf("%d atomic batches stored, want still 1 (the retried batch went in waves)", pub.atomic)
	}

	small, orders := batchOf(3)
	if err := r.publish(ctx, small); err != nil {
		t.Fatal(err)
	}
	check(small, orders)
	if pub.atomic != 1 {
		t.Errorf("a batch of %d events went atomic; below %d it goes in waves", len(small), minAtomicBatch)
	}
}
