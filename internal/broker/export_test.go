package broker

import (
	"sync"

	"github.com/shopflow/orders/internal/batching"
)

// HoldFirstBatch makes the intake's next batch wait for release before it is sent, so that
// what arrives meanwhile forms the batch after it.
func (in *BatchIntake) HoldFirstBatch(release <-chan struct{}) {
	var once sync.Once
	in.queue = batching.New(1, defaultBatchOrders, func(g []*batching.Item[*acceptance]) {
		once.Do(func() { <-release })
		in.send(g)
	})
}

// Queued is how many orders wait for a batch.
func (in *BatchIntake) Queued() int { return in.queue.Queued() }

// ClaimKey is the hash that names scope's key's claim subject.
func ClaimKey(scope, key string) string { return bucketKey(scope, key) }
