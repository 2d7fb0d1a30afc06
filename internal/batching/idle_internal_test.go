package batching

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestCallersOfARunningGroupDoNotSpin: with two slots, the callers whose items a long group
// holds wait for its outcome while the other slot is free; they do not take that slot again
// and again to find nothing queued (a busy loop, which burned CPU under saga groups waiting on
// the payment gateway).
func TestCallersOfARunningGroupDoNotSpin(t *testing.T) {
	first, second, rest := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	groups := 0
	q := New(2, 8, func(group []*Item[int]) {
		mu.Lock()
		groups++
		wait := []chan struct{}{first, second, rest}[min(groups, 3)-1]
		mu.Unlock()
		<-wait
		for _, it := range group {
			it.Done(nil)
		}
	})
	ran := func(n int) func() bool { return func() bool { mu.Lock(); defer mu.Unlock(); return groups == n } }
	var wg sync.WaitGroup
	wg.Go(func() { _ = q.Do(context.Background(), 0) })
	waitFor(t, ran(1)) // slot 1: group [0]
	wg.Go(func() { _ = q.Do(context.Background(), 1) })
	waitFor(t, ran(2)) // slot 2: group [1]
	wg.Go(func() { _ = q.Do(context.Background(), 2) })
	wg.Go(func() { _ = q.Do(context.Background(), 3) })
	waitFor(t, func() bool { return q.Queued() == 2 })
	close(second) // slot 2: group [2 3], run by one of their callers
	waitFor(t, func() bool { return ran(3)() && q.Queued() == 0 })
	close(first) // slot 1 is free, and the other caller's item is in group [2 3]
	time.Sleep(100 * time.Millisecond)
	q.mu.Lock()
	idle := q.idleRuns
	q.mu.Unlock()
	close(rest)
	wg.Wait()
	if idle > 2 {
		t.Errorf("callers took a free slot %d times with nothing queued while their group ran; want at most twice", idle)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
	}
}
