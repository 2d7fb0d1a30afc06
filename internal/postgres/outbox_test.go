package postgres_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shopflow/orders/events"
)

// relayed collects what RelayBatch hands to publish.
type relayed struct{ envs []events.Envelope }

func (r *relayed) publish(_ context.Context, envs []events.Envelope) error {
	r.envs = append(r.envs, envs...)
	return nil
}

func (r *relayed) ids() []string {
	out := make([]string, len(r.envs))
	for i, e := range r.envs {
		out[i] = e.ID
	}
	return out
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insertOutbox writes one outbox row through q and returns its message id.
func insertOutbox(t testing.TB, q execer, label string) string {
	t.Helper()
	id := uuid.NewString()
	_, err := q.Exec(context.Background(), `INSERT INTO outbox (message_id, subject, name, order_id, correlation_id, occurred_at, payload)
		VALUES ($1, 'evt.test.v1', 'test.v1', $2, $3, now(), '{}')`, id, uuid.NewString(), label)
	if err != nil {
		t.Fatalf("insert outbox row %s: %v", label, err)
	}
	return id
}

func TestRelayBatchOldestFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStore(t)
	setStock(t, s, map[string]int64{"SKU-A": 10})
	first, second := "0195a0c4-6c1e-7d2a-9b7e-000000000001", "0195a0c4-6c1e-7d2a-9b7e-000000000002"
	place(t, s, params(first, line("SKU-A", 1)))
	place(t, s, params(second, line("SKU-A", 100)))
	want := []string{
		events.MessageID(first, events.NameOrderPlaced, 1), events.MessageID(first, events.NameStockReserved, 2),
		events.MessageID(second, events.NameOrderPlaced, 1), events.MessageID(second, events.NameOrderRejected, 2),
	}

	var r relayed
	if n, err := s.RelayBatch(ctx, 3, r.publish); err != nil || n != 3 {
		t.Fatalf("RelayBatch = %d, %v; want 3", n, err)
	}
	if left := count(t, pool, `SELECT count(*) FROM outbox`); left != 1 {
		t.Errorf("outbox holds %d rows after relaying 3 of 4", left)
	}
	if n, err := s.RelayBatch(ctx, 10, r.publish); err != nil || n != 1 {
		t.Fatalf("second RelayBatch = %d, %v; want 1", n, err)
	}
	if !slices.Equal(r.ids(), want) {
		t.Errorf("relayed %q, want %q", r.ids(), want)
	}
	e := r.envs[1]
	if e.Subject != "evt.stock.reserved.v1" || e.Name != events.NameStockReserved || e.OrderID != first ||
		e.CorrelationID != "corr-"+first || !e.OccurredAt.Equal(clock) || len(e.Payload) == 0 {
		t.Errorf("relayed envelope = %+v", e)
	}
	called := false
	n, err := s.RelayBatch(ctx, 10, func(context.Context, []events.Envelope) error { called = true; return nil })
	if err != nil || n != 0 || called {
		t.Errorf("RelayBatch of an empty outbox = %d, %v, publish called %v", n, err, called)
	}
}

func TestRelayBatchPublishFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStore(t)
	want := []string{insertOutbox(t, pool, "a"), insertOutbox(t, pool, "b")}
	errDown := errors.New("jetstream down")
	n, err := s.RelayBatch(ctx, 10, func(context.Context, []events.Envelope) error { return errDown })
	if !errors.Is(err, errDown) || n != 0 {
		t.Fatalf("RelayBatch = %d, %v; want 0 and the publish error", n, err)
	}
	if left := count(t, pool, `SELECT count(*) FROM outbox`); left != 2 {
		t.Fatalf("outbox holds %d rows after a failed publish, want 2", left)
	}
	var r relayed
	if n, err := s.RelayBatch(ctx, 10, r.publish); err != nil || n != 2 || !slices.Equal(r.ids(), want) {
		t.Errorf("retry = %d, %v, %q; want %q", n, err, r.ids(), want)
	}
}

// TestRelayBatchForgottenDeleteRepublishesSameIDs: the relay's delete commits without waiting
// for its WAL flush, so a crash of the PostgreSQL server may bring relayed rows back. They are
// then published again, in their order, with the message ids they had (which JetStream's
// duplicate window and the consumers' inboxes absorb), as after a crash before the commit.
func TestRelayBatchForgottenDeleteRepublishesSameIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStore(t)
	want := []string{insertOutbox(t, pool, "a"), insertOutbox(t, pool, "b")}
	if _, err := pool.Exec(ctx, `CREATE TABLE outbox_before AS SELECT * FROM outbox`); err != nil {
		t.Fatal(err)
	}
	var first relayed
	if n, err := s.RelayBatch(ctx, 10, first.publish); err != nil || n != 2 {
		t.Fatalf("RelayBatch = %d, %v; want 2", n, err)
	}
	// What a forgotten delete leaves: the rows exactly as they were, back.
	if _, err := pool.Exec(ctx, `INSERT INTO outbox SELECT * FROM outbox_before`); err != nil {
		t.Fatal(err)
	}
	var again relayed
	if n, err := s.RelayBatch(ctx, 10, again.publish); err != nil || n != 2 || !slices.Equal(again.ids(), want) {
		t.Fatalf("RelayBatch after the rows came back = %d, %v, %q; want %q again", n, err, again.ids(), want)
	}
	for i := range want {
		if a, b := first.envs[i], again.envs[i]; a.Subject != b.Subject || a.OrderID != b.OrderID || string(a.Payload) != string(b.Payload) {
			t.Errorf("event %d published again differs: %+v, then %+v", i, a, b)
		}
	}
}

// TestRelayBatchLateCommit: a transaction that took a lower id but commits after a relay
// published a higher one is still relayed.
func TestRelayBatchLateCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStore(t)
	txA, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback(ctx) //nolint:errcheck // committed below; a no-op then
	late := insertOutbox(t, txA, "A")
	early := insertOutbox(t, pool, "B") // its own transaction, committed at once
	var r relayed
	if n, err := s.RelayBatch(ctx, 10, r.publish); err != nil || n != 1 || !slices.Equal(r.ids(), []string{early}) {
		t.Fatalf("first RelayBatch = %d, %v, %q; want only %s", n, err, r.ids(), early)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox WHERE message_id = $1 AND id < (SELECT last_value FROM outbox_id_seq)`, late); n != 1 {
		t.Fatalf("the late row does not hold the lower id")
	}
	if n, err := s.RelayBatch(ctx, 10, r.publish); err != nil || n != 1 || !slices.Equal(r.ids(), []string{early, late}) {
		t.Errorf("second RelayBatch = %d, %v, %q; want %s relayed too", n, err, r.ids(), late)
	}
}

func TestRelayBatchOneRelayAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStore(t)
	insertOutbox(t, pool, "a")
	inPublish, release := make(chan struct{}), make(chan struct{})
	type result struct {
		n   int
		err error
	}
	first := make(chan result, 1)
	go func() {
		n, err := s.RelayBatch(ctx, 10, func(context.Context, []events.Envelope) error {
			close(inPublish)
			<-release
			return nil
		})
		first <- result{n, err}
	}()
	select {
	case <-inPublish:
	case <-time.After(30 * time.Second):
		t.Fatal("first relay never published")
	}
	n, err := s.RelayBatch(ctx, 10, func(context.Context, []events.Envelope) error {
		t.Error("second relay published while the first held the outbox")
		return nil
	})
	if err != nil || n != 0 {
		t.Errorf("second RelayBatch = %d, %v; want 0, nil", n, err)
	}
	close(release)
	if r := <-first; r.err != nil || r.n != 1 {
		t.Errorf("first RelayBatch = %d, %v; want 1", r.n, r.err)
	}
}
