package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopflow/orders/internal/postgres"
)

func listen(t testing.TB, s *postgres.Store) *postgres.OutboxListener {
	t.Helper()
	l, err := s.ListenOutbox(context.Background())
	if err != nil {
		t.Fatalf("ListenOutbox: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(context.Background()); err != nil {
			t.Errorf("close listener: %v", err)
		}
	})
	return l
}

// waitAsync starts a Wait with a long timeout and returns the channel its result arrives on.
func waitAsync(ctx context.Context, l *postgres.OutboxListener) <-chan error {
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx, time.Minute) }()
	return done
}

// woken asserts that a Wait with a one-minute timeout returned long before it.
func woken(t testing.TB, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Wait did not return after a commit")
	}
}

func TestListenOutbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	setStock(t, s, map[string]int64{"SKU-A": 10})
	l := listen(t, s)

	// Nothing happens: Wait returns nil once the timeout passed, and the listener still works.
	start := time.Now()
	if err := l.Wait(ctx, 100*time.Millisecond); err != nil {
		t.Fatalf("Wait with nothing to wake it = %v, want nil", err)
	}
	if elapsed := time.Since(start); elapsed < 100*time.Millisecond {
		t.Errorf("Wait returned after %s, before its timeout", elapsed)
	}

	done := waitAsync(ctx, l)
	place(t, s, params("0195a0c4-6c1e-7d2a-9b7e-000000000001", line("SKU-A", 1)))
	woken(t, done)

	// A commit while nobody waits is queued for the next Wait.
	place(t, s, params("0195a0c4-6c1e-7d2a-9b7e-000000000002", line("SKU-A", 1)))
	woken(t, waitAsync(ctx, l))
}

func TestListenOutboxCancelled(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	l := listen(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := waitAsync(ctx, l)
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Wait = nil after its context was cancelled, want an error")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Wait ignored the cancelled context")
	}
}
