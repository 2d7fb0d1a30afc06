package broker

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/shopflow/orders/events"
)

// KVIntake is the ingest for a nats-server without atomic batch publish (older than
// AtomicBatchMinVersion): the claim in the idempotency bucket, then the command and the
// pending copy, three synced writes per order. A claim stored without its command (a crash
// between the two) is finished by the key's next try, which publishes the same command again:
// the command's Nats-Msg-Id and the intake's inbox keep one.
type KVIntake struct {
	keys *IdempotencyKeys
	pub  *EnvelopePublisher
}

// NewKVIntake returns the ingest over the idempotency bucket and pub.
func NewKVIntake(keys *IdempotencyKeys, pub *EnvelopePublisher) (*KVIntake, error) {
	if keys == nil || pub == nil {
		return nil, errors.New("broker: NewKVIntake needs the idempotency keys and a publisher")
	}
	return &KVIntake{keys: keys, pub: pub}, nil
}

// Accept claims a's key and stores the command of the order that holds it; it returns the
// record that holds the key. When that record's request hash differs from a.Claim's, nothing
// is stored: the caller answers that the key was used for another request. A second call with
// the same arguments changes nothing more than the first. Failures wrap fault.ErrUnavailable.
func (k *KVIntake) Accept(ctx context.Context, a events.Acceptance) (events.IdempotencyRecordV1, error) {
	held, _, err := k.keys.Claim(ctx, a.Scope, a.Key, a.Claim)
	if err != nil || held.RequestHash != a.Claim.RequestHash {
		return held, err
	}
	return held, k.store(ctx, a, held)
}

// store publishes the command of the order held stands for, with its pending copy (sent
// together: one round trip of latency).
func (k *KVIntake) store(ctx context.Context, a events.Acceptance, held events.IdempotencyRecordV1) error {
	cmd, accepted, err := a.Command(held)
	if err != nil {
		return fmt.Errorf("build command of order %s: %w", held.OrderID, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return k.keys.RememberAccepted(gctx, accepted) })
	g.Go(func() error { return k.pub.Publish(gctx, cmd) })
	return g.Wait()
}

// Accepted reads the pending copy of an accepted order; found is false when there is none.
func (k *KVIntake) Accepted(ctx context.Context, orderID string) (events.PlaceOrderV1, bool, error) {
	return k.keys.Accepted(ctx, orderID)
}
