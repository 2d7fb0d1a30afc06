package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/events"
)

// IdempotencyKeys stores records in a JetStream key-value bucket, so the write path needs no
// database round trip.
type IdempotencyKeys struct {
	kv jetstream.KeyValue
}

// NewIdempotencyKeys returns a store over kv (the events.BucketIdempotency bucket).
func NewIdempotencyKeys(kv jetstream.KeyValue) (*IdempotencyKeys, error) {
	if kv == nil {
		return nil, errors.New("broker: NewIdempotencyKeys needs a bucket")
	}
	return &IdempotencyKeys{kv: kv}, nil
}

// Claim stores rec under (scope, key) unless a record is there already. It returns the
// record that holds the key and whether it is the one passed in. Create is atomic on the
// server, so of many concurrent claims exactly one wins and the others read its record.
// Failures wrap fault.ErrUnavailable.
func (k *IdempotencyKeys) Claim(ctx context.Context, scope, key string, rec events.IdempotencyRecordV1) (events.IdempotencyRecordV1, bool, error) {
	name := bucketKey(scope, key)
	val, err := json.Marshal(rec)
	if err != nil {
		return events.IdempotencyRecordV1{}, false, fmt.Errorf("encode idempotency record: %w", err)
	}
	for attempt := 0; attempt < 3; attempt++ {
		_, err := k.kv.Create(ctx, name, val)
		if err == nil {
			return rec, true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return events.IdempotencyRecordV1{}, false, fmt.Errorf("%w: claim idempotency key: %w", fault.ErrUnavailable, err)
		}
		held, found, err := k.lookup(ctx, name)
		if found || err != nil {
			return held, false, err
		} // expired between Create and Get: claim again
	}
	return events.IdempotencyRecordV1{}, false, fmt.Errorf("%w: idempotency key kept expiring while claimed", fault.ErrUnavailable)
}

// Lookup reads the record that holds (scope, key), if any, without claiming it.
func (k *IdempotencyKeys) Lookup(ctx context.Context, scope, key string) (events.IdempotencyRecordV1, bool, error) {
	return k.lookup(ctx, bucketKey(scope, key))
}

func (k *IdempotencyKeys) lookup(ctx context.Context, name string) (events.IdempotencyRecordV1, bool, error) {
	entry, err := k.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return events.IdempotencyRecordV1{}, false, nil
	}
	if err != nil {
		return events.IdempotencyRecordV1{}, false, fmt.Errorf("%w: read idempotency key: %w", fault.ErrUnavailable, err)
	}
	var held events.IdempotencyRecordV1
	if err := json.Unmarshal(entry.Value(), &held); err != nil {
		return events.IdempotencyRecordV1{}, false, fmt.Errorf("decode idempotency record %s: %w", name, err)
	}
	return held, true, nil
}

// holdsKeys reports whether the bucket holds any key (claims or pending copies).
func (k *IdempotencyKeys) holdsKeys(ctx context.Context) (bool, error) {
	st, err := k.kv.Status(ctx)
	if err != nil {
		return false, fmt.Errorf("%w: idempotency bucket status: %w", fault.ErrUnavailable, err)
	}
	return st.Values() > 0, nil
}

// bucketKey hashes scope and key: client keys may hold characters a KV key cannot, and the
// hash keeps one storefront's keys apart from another's.
func bucketKey(scope, key string) string {
	h := sha256.New()
	h.Write([]byte(scope))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return hex.EncodeToString(h.Sum(nil))
}

// pendingKey names the copy of an accepted order's command kept in the bucket, readable by
// order id (bucketKey's names are hex digests, so the two never collide).
func pendingKey(orderID string) string { return "order." + orderID }

// RememberAccepted stores cmd (without its payment token) under its order id, so the API can
// answer an accepted order as pending before the intake has it, even while PostgreSQL is down.
// It lives as long as the bucket's keys (IdempotencyTTL). Failures wrap fault.ErrUnavailable.
func (k *IdempotencyKeys) RememberAccepted(ctx context.Context, cmd events.PlaceOrderV1) error {
	cmd.PaymentToken = "" // a read never needs it; the command in the stream carries it
	val, err := json.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("encode accepted order %s: %w", cmd.OrderID, err)
	}
	if _, err := k.kv.Put(ctx, pendingKey(cmd.OrderID), val); err != nil {
		return fmt.Errorf("%w: remember accepted order %s: %w", fault.ErrUnavailable, cmd.OrderID, err)
	}
	return nil
}

// Accepted reads what RememberAccepted stored for orderID (one JetStream round trip); found is
// false when there is nothing. Failures wrap fault.ErrUnavailable.
func (k *IdempotencyKeys) Accepted(ctx context.Context, orderID string) (cmd events.PlaceOrderV1, found bool, err error) {
	entry, err := k.kv.Get(ctx, pendingKey(orderID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return events.PlaceOrderV1{}, false, nil
	}
	if err != nil {
		return events.PlaceOrderV1{}, false, fmt.Errorf("%w: read accepted order %s: %w", fault.ErrUnavailable, orderID, err)
	}
	if err := json.Unmarshal(entry.Value(), &cmd); err != nil {
		return events.PlaceOrderV1{}, false, fmt.Errorf("decode accepted order %s: %w", orderID, err)
	}
	return cmd, true, nil
}
