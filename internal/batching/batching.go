// Package batching lets concurrent callers have their work done in groups: one fsync, one
// round trip or one transaction for all the work that arrived together.
//
// There is no timer. A caller queues its item and, whenever one of the queue's slots is free,
// runs a group of whatever is queued (its own item or others'), so a group forms from what
// arrived while the previous one ran: one item alone when the load is light, larger groups as
// it grows.
package batching

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
)

// Queue groups the items its callers hand it. Build it with New.
type Queue[T any] struct {
	slots   chan struct{}
	maxSize int
	run     func(group []*Item[T])

	mu      sync.Mutex
	pending []*Item[T]
	// idleRuns counts slots taken with nothing queued (tests: no caller spins).
	idleRuns int
}

// Item is one caller's work in a Queue.
type Item[T any] struct {
	Value T
	err   error
	done  chan struct{}
	taken bool // a group holds it (guarded by the queue's mu)
}

// Done finishes the item with err (nil: done), and lets its caller return. The run function
// of a Queue calls it exactly once for every item of a group it is given, before it returns.
func (it *Item[T]) Done(err error) {
	it.err = err
	close(it.done)
}

// New returns a queue that runs at most slots groups at a time, each of at most maxSize items,
// with run. run must call Done on every item of its group.
func New[T any](slots, maxSize int, run func(group []*Item[T])) *Queue[T] {
	return &Queue[T]{slots: make(chan struct{}, max(slots, 1)), maxSize: max(maxSize, 1), run: run}
}

// Do queues v and returns once a group has run it, with the error that group gave it. While it
// waits, its caller runs groups whenever a slot is free. A caller whose ctx ends while its item
// is still queued takes it out and gets ctx's error; once a group holds the item, Do waits for
// its outcome, which the caller cannot undo.
func (q *Queue[T]) Do(ctx context.Context, v T) error {
	it := &Item[T]{Value: v, done: make(chan struct{})}
	q.mu.Lock()
	q.pending = append(q.pending, it)
	q.mu.Unlock()
	for {
		select { // done first: a caller whose item is done returns, rather than run another group
		case <-it.done:
			return it.err
		default:
		}
		if q.heldByGroup(it) {
			// Its outcome is on its way. Taking a free slot now would find nothing to run,
			// again and again while its group runs: a busy loop.
			<-it.done
			return it.err
		}
		select {
		case <-it.done:
			return it.err
		case <-ctx.Done():
			if q.withdraw(it) {
				return ctx.Err()
			}
			<-it.done
			return it.err
		case q.slots <- struct{}{}:
			q.runGroup()
		}
	}
}

// Queued is how many items wait for a group.
func (q *Queue[T]) Queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// runGroup runs a group of what is queued in the slot its caller took, and frees the slot
// whatever happens. A panic of run (a bug) is the error of every item it left unfinished, so
// that no caller waits for ever; the stack is in the error.
func (q *Queue[T]) runGroup() {
	var group []*Item[T]
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("batching: panic while running a group: %v\n%s", r, debug.Stack())
			for _, it := range group {
				select {
				case <-it.done:
				default:
					it.Done(err)
				}
			}
		}
		<-q.slots
	}()
	if group = q.take(); len(group) > 0 {
		q.run(group)
	}
}

// withdraw takes it out of the queue if no group has taken it yet.
func (q *Queue[T]) withdraw(it *Item[T]) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := slices.Index(q.pending, it)
	if i < 0 {
		return false
	}
	q.pending = slices.Delete(q.pending, i, i+1)
	return true
}

// heldByGroup reports whether a group has taken it.
func (q *Queue[T]) heldByGroup(it *Item[T]) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return it.taken
}

// take removes up to maxSize items from the queue, oldest first.
func (q *Queue[T]) take() []*Item[T] {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.pending), q.maxSize)
	if n == 0 {
		q.idleRuns++
	}
	group := make([]*Item[T], n)
	copy(group, q.pending)
	for _, it := range group {
		it.taken = true
	}
	q.pending = append(q.pending[:0], q.pending[n:]...)
	return group
}
