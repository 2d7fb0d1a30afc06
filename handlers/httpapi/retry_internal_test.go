package httpapi

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/fault"
)

// A try that gets no answer (a write to a stream whose leader just died) is cut at the
// attempt's bound and tried again within the budget; the second try's success is the result.
func TestRetryUnavailableTriesAgainAfterAnUnansweredTry(t *testing.T) {
	tries := 0
	err := retryUnavailable(context.Background(), 50*time.Millisecond, func(ctx context.Context) error {
		tries++
		if tries == 1 {
			<-ctx.Done() // no answer: the attempt's own deadline ends it
			return fmt.Errorf("%w: publish: %w", fault.ErrUnavailable, ctx.Err())
		}
		return nil
	})
	if err != nil || tries != 2 {
		t.Fatalf("err %v after %d tries, want success on the 2nd", err, tries)
	}
}

func TestRetryUnavailableStopsAtTheBudgetAndOnOtherErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	tries := 0
	err := retryUnavailable(ctx, 100*time.Millisecond, func(ctx context.Context) error {
		tries++
		<-ctx.Done()
		return fmt.Errorf("%w: %w", fault.ErrUnavailable, ctx.Err())
	})
	if !errors.Is(err, fault.ErrUnavailable) || tries < 2 || tries > 3 {
		t.Errorf("err %v after %d tries, want ErrUnavailable after 2 or 3 tries of a 300 ms budget", err, tries)
	}
	invalid := errors.New("Idempotency-Key: was already used with a different request body")
	tries = 0
	err = retryUnavailable(context.Background(), time.Second, func(context.Context) error { tries++; return invalid })
	if !errors.Is(err, invalid) || tries != 1 {
		t.Errorf("err %v after %d tries, want the caller's error at once", err, tries)
	}
}
