package batching_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopflow/orders/internal/batching"
)

// While a group runs, what arrives queues, and the next group takes it all (up to maxSize).
func TestItemsArrivingTogetherRunTogether(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	q := batching.New(1, 8, func(group []*batching.Item[int]) {
		mu.Lock()
		sizes = append(sizes, len(group))
		first := len(sizes) == 1
		mu.Unlock()
		if first {
			close(started)
			<-release // hold the only slot while the others queue
		}
		for _, it := range group {
			it.Done(nil)
		}
	})
	var wg sync.WaitGroup
	wg.Go(func() { _ = q.Do(context.Background(), 0) })
	// The first item is in its group. (Waiting for an empty queue instead, as this test once
	// did, could pass before item 0 was even queued, and let it share a group with others.)
	<-started
	for i := 1; i <= 5; i++ {
		wg.Go(func() { _ = q.Do(context.Background(), i) })
	}
	for q.Queued() != 5 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if len(sizes) != 2 || sizes[0] != 1 || sizes[1] != 5 {
		t.Fatalf("group sizes %v, want [1 5]", sizes)
	}
}

// A caller that gives up while its item is queued takes it out: no group runs it. Once a group
// holds an item, its caller gets the group's outcome.
func TestCallerGivingUpWithdrawsOnlyAQueuedItem(t *testing.T) {
	release := make(chan struct{})
	ran := make(chan int, 4)
	q := batching.New(1, 8, func(group []*batching.Item[int]) {
		for _, it := range group {
			ran <- it.Value
		}
		<-release
		for _, it := range group {
			it.Done(errors.New("group outcome"))
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- q.Do(ctx, 1) }()
	<-ran // item 1 is in a group
	queued := make(chan error, 1)
	go func() { queued <- q.Do(ctx, 2) }()
	for q.Queued() != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Fatalf("queued item's caller got %v, want context.Canceled", err)
	}
	close(release)
	if err := <-first; err == nil || err.Error() != "group outcome" {
		t.Fatalf("running item's caller got %v, want the group's outcome", err)
	}
	if q.Queued() != 0 || len(ran) != 0 {
		t.Fatalf("withdrawn item ran or stayed queued (queued %d, ran %d more)", q.Queued(), len(ran))
	}
}

// A group whose run panics (a bug) finishes the items it left with an error: no caller waits
// for ever, and the queue goes on.
func TestPanickingGroupFinishesItsItems(t *testing.T) {
	var calls int
	q := batching.New(1, 8, func(group []*batching.Item[int]) {
		calls++
		if calls == 1 {
			group[0].Done(nil)
			panic("a bug")
		}
		for _, it := range group {
			it.Done(nil)
		}
	})
	if err := q.Do(context.Background(), 1); err != nil {
		t.Fatalf("the item finished before the panic got %v", err)
	}
	q2 := batching.New(1, 8, func(group []*batching.Item[int]) { panic("a bug") })
	if err := q2.Do(context.Background(), 1); err == nil || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("an item the panicking group left got %v, want the panic as its error", err)
	}
	if err := q.Do(context.Background(), 2); err != nil {
		t.Fatalf("the queue after a panic: %v", err)
	}
}
