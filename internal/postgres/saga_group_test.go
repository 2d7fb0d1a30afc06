package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/testenv"
)

// TestSagaStepsCommitInGroups runs concurrent saga steps (authorize and capture, as the payment
// worker's step does) on eight orders. They commit in groups whose steps run at once (a step
// that waits on the gateway does not wait behind the others of its group); a step that fails
// leaves nothing of itself, inbox row included, while the others commit; a message delivered
// twice applies once; and every stock effect lands once.
func TestSagaStepsCommitInGroups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var mu sync.Mutex
	largest := 0
	pool := testenv.Pool(t)
	s, err := postgres.NewStore(pool, postgres.GroupConfig{Observe: func(w postgres.Work, n int) {
		if w == postgres.WorkSaga {
			mu.Lock()
			largest = max(largest, n)
			mu.Unlock()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	setStock(t, s, map[string]int64{"A": 100, "B": 100})
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = fmt.Sprintf("0195a0c4-6c1e-7d2a-9b7e-0000000b%04d", i)
		place(t, s, params(ids[i], line("A", 2), line("B", 1)))
	}
	const failing = 3
	errGateway := errors.New("gateway says no")
	var inside, most atomic.Int32
	step := func(i int) func(*order.Order) error {
		return func(o *order.Order) error {
			n := inside.Add(1)
			defer inside.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(50 * time.Millisecond) // a gateway call
			if i == failing {
				return errGateway
			}
			if err := o.Authorize("auth-"+o.ID(), clock); err != nil {
				return err
			}
			return o.Confirm(clock)
		}
	}
	msgs := make([]events.Delivery, len(ids))
	for i := range msgs {
		msgs[i] = events.Delivery{Consumer: events.ConsumerPaymentStockReserved, MessageID: uuid.NewString(), CorrelationID: "corr"}
	}
	type result struct {
		i   int
		dup bool
		err error
	}
	results := make(chan result, len(ids)+1)
	var wg sync.WaitGroup
	call := func(i int) {
		wg.Go(func() {
			dup, err := s.UpdateOrder(ctx, msgs[i], ids[i], step(i))
			results <- result{i, dup, err}
		})
	}
	for i := range ids {
		call(i)
	}
	call(5) // order 5's message, delivered twice
	wg.Wait()
	close(results)
	dups := 0
	for r := range results {
		switch {
		case r.i == failing:
			if !errors.Is(r.err, errGateway) {
				t.Errorf("the failing step returned %v, want the gateway's error", r.err)
			}
		case r.err != nil:
			t.Errorf("step of order %d: %v", r.i, r.err)
		case r.dup:
			dups++
		}
	}
	if dups != 1 {
		t.Errorf("%d steps reported a duplicate, want 1 (order 5's second delivery)", dups)
	}
	for i, id := range ids {
		o, err := s.GetOrder(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		inbox := count(t, pool, `SELECT count(*) FROM inbox WHERE message_id = $1`, msgs[i].MessageID)
		want, wantVersion, wantInbox := order.StatusConfirmed, 4, 1
		if i == failing {
			want, wantVersion, wantInbox = order.StatusReserved, 2, 0
		}
		if o.Status() != want || o.Version() != wantVersion || inbox != wantInbox {
			t.Errorf("order %d: %s v%d with %d inbox rows, want %s v%d with %d", i, o.Status(), o.Version(), inbox, want, wantVersion, wantInbox)
		}
	}
	if a, b := stock(t, s, "A"), stock(t, s, "B"); a.OnHand != 100-2*7 || a.Reserved != 2 || b.OnHand != 100-7 || b.Reserved != 1 {
		t.Errorf("stock A %+v, B %+v; want 7 orders' units gone and the failing order's still reserved", a, b)
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox WHERE order_id = ANY($1)`, ids); n != 2*len(ids)+2*7 {
		t.Errorf("outbox holds %d events of these orders, want %d (placed and reserved each, authorized and confirmed for 7)", n, 2*len(ids)+2*7)
	}
	mu.Lock()
	defer mu.Unlock()
	// Two groups run at once at most (two slots): three steps or more running at once means a
	// group ran its steps side by side.
	if largest < 3 || most.Load() < 3 {
		t.Errorf("largest saga group %d, steps running at once at most %d: want 3 or more of each", largest, most.Load())
	}
}

// TestABusyOrderDoesNotHoldBackItsGroup: while another transaction holds one order (a step of
// another group waiting on the gateway), steps of other orders that arrive with its step
// commit at once; its step waits for the lock, alone, and commits once it is free.
func TestABusyOrderDoesNotHoldBackItsGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStore(t)
	setStock(t, s, map[string]int64{"A": 100})
	ids := make([]string, 8) // ids[6] and ids[7] keep both saga slots busy while the rest queue
	for i := range ids {
		ids[i] = fmt.Sprintf("0195a0c4-6c1e-7d2a-9b7e-0000000c%04d", i)
		place(t, s, params(ids[i], line("A", 1)))
	}
	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx) //nolint:errcheck // released below; a no-op then
	if _, err := holder.Exec(ctx, `SELECT 1 FROM orders WHERE id = $1 FOR UPDATE`, ids[0]); err != nil {
		t.Fatal(err)
	}
	authorize := func(o *order.Order) error { return o.Authorize("auth-"+o.ID(), clock) }
	gate := make(chan struct{})
	var entered, blockers sync.WaitGroup
	entered.Add(2)
	for _, i := range []int{6, 7} {
		blockers.Go(func() {
			_, err := s.UpdateOrder(ctx, events.Unsolicited("test"), ids[i], func(o *order.Order) error {
				entered.Done()
				<-gate
				return authorize(o)
			})
			if err != nil {
				t.Errorf("blocking step %d: %v", i, err)
			}
		})
	}
	entered.Wait() // both slots hold a group waiting on gate
	busy := make(chan error, 1)
	go func() {
		_, err := s.UpdateOrder(ctx, events.Unsolicited("test"), ids[0], authorize)
		busy <- err
	}()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := 1; i < 6; i++ {
		wg.Go(func() { _, errs[i] = s.UpdateOrder(ctx, events.Unsolicited("test"), ids[i], authorize) })
	}
	for deadline := time.Now().Add(10 * time.Second); s.QueuedSagaSteps() < 6; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d steps queued, want 6", s.QueuedSagaSteps())
		}
	}
	close(gate) // the next group takes the six queued steps, ids[0]'s among them
	blockers.Wait()
	wg.Wait() // while ids[0] is still held
	for i, err := range errs[1:] {
		if err != nil {
			t.Errorf("step of order %d beside a busy order: %v", i+1, err)
		}
	}
	select {
	case err := <-busy:
		t.Fatalf("the busy order's step returned while its order was held: %v", err)
	default:
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-busy; err != nil {
		t.Fatalf("the busy order's step, once its order was free: %v", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM orders WHERE id = ANY($1) AND status = 'authorized'`, ids); n != len(ids) {
		t.Errorf("%d of %d orders authorized, want all", n, len(ids))
	}
}

// TestAHungStepFailsAloneAtItsDeadline: a step still running at the group's step deadline (a
// gateway that hangs) fails, with an outage error its caller retries, and writes nothing even
// when it ends later; the steps beside it commit.
func TestAHungStepFailsAloneAtItsDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.Pool(t)
	s, err := postgres.NewStore(pool, postgres.GroupConfig{SagaStepDeadline: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	setStock(t, s, map[string]int64{"A": 100})
	ids := make([]string, 4)
	for i := range ids {
		ids[i] = fmt.Sprintf("0195a0c4-6c1e-7d2a-9b7e-0000000d%04d", i)
		place(t, s, params(ids[i], line("A", 1)))
	}
	hang := make(chan struct{})
	defer close(hang)
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i := range ids {
		wg.Go(func() {
			_, errs[i] = s.UpdateOrder(ctx, events.Unsolicited("test"), ids[i], func(o *order.Order) error {
				if i == 0 {
					<-hang // the gateway never answers in time
				} else {
					time.Sleep(50 * time.Millisecond)
				}
				return o.Authorize("auth-"+o.ID(), clock)
			})
		})
	}
	wg.Wait()
	if !errors.Is(errs[0], fault.ErrUnavailable) {
		t.Errorf("the hung step returned %v, want an outage error", errs[0])
	}
	for i, err := range errs[1:] {
		if err != nil {
			t.Errorf("step of order %d beside the hung one: %v", i+1, err)
		}
	}
	hang <- struct{}{} // the hung step ends now, after its group
	o, err := s.GetOrder(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if o.Status() != order.StatusReserved || count(t, pool, `SELECT count(*) FROM orders WHERE id = ANY($1) AND status = 'authorized'`, ids[1:]) != 3 {
		t.Errorf("the hung step's order is %s (want reserved: nothing written), or not every other order was authorized", o.Status())
	}
}
