package messaging

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/shopflow/orders/domain/fault"
)

// giveUpAfter makes the error of a message permanent once its handler has failed n times, so
// that a message that keeps failing reaches the dead letters instead of being redelivered
// forever. Outages (fault.ErrUnavailable) are exempt and not counted: JetStream's delivery
// count rises with every redelivery during an outage, so it cannot tell them apart, and a
// PostgreSQL outage of a few minutes must not leave accepted orders one failure from the dead
// letters. The count lives in this process (a restart starts it again: later, never sooner).
// The handler sees it through FinalAttempt.
//
// Each handler has its own count (the router applies a middleware to each handler once): one
// event reaches every handler subscribed to it, and one handler's failures or success say
// nothing about another's. So the count is keyed by handler and message id.
func giveUpAfter(n int) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		counts := &failureCounts{m: map[string]int{}}
		return func(msg *message.Message) ([]*message.Message, error) {
			failed := counts.get(msg.UUID)
			msg.SetContext(context.WithValue(msg.Context(), failuresKey{}, failures{failed: failed, giveUpAfter: n}))
			out, err := h(msg)
			if err == nil || fault.IsPermanent(err) {
				counts.forget(msg.UUID)
				return out, err
			}
			if errors.Is(err, fault.ErrUnavailable) {
				return out, err
			}
			if failed+1 >= n {
				counts.forget(msg.UUID)
				return out, fault.Permanent(fmt.Errorf("gave up after %d failures: %w", failed+1, err))
			}
			counts.set(msg.UUID, failed+1)
			return out, err
		}
	}
}

// failureCounts remembers how often each message failed, bounded so a flood of distinct
// failing messages cannot grow it without end (past the bound it starts over: later, never
// sooner, to the dead letters).
type failureCounts struct {
	mu sync.Mutex
	m  map[string]int
}

const maxFailureCounts = 100_000

func (f *failureCounts) get(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[id]
}

func (f *failureCounts) set(id string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.m) >= maxFailureCounts {
		f.m = map[string]int{}
	}
	f.m[id] = n
}

func (f *failureCounts) forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, id)
}

// FinalAttempt reports whether a failure of the message whose context ctx is would be given
// up on: inside the router, when its handler has failed RouterConfig.GiveUpAfter-1 times
// before (outages excluded); outside it, on the consumer's last delivery when its MaxDeliver
// is limited. It is false for a context without either.
//
// A handler that must act before its message is dead-lettered (flag the order, compensate)
// asks it. Neither it nor the router should give up on an error that wraps
// fault.ErrUnavailable: an outage is retried until it ends.
func FinalAttempt(ctx context.Context) bool {
	if f, ok := ctx.Value(failuresKey{}).(failures); ok {
		return f.giveUpAfter > 0 && f.failed+1 >= f.giveUpAfter
	}
	attempt, maxDeliver, ok := Delivery(ctx)
	return ok && maxDeliver > 0 && attempt >= maxDeliver
}

type failuresKey struct{}

// failures is what giveUpAfter tells FinalAttempt: how often the message's handler failed
// before (for reasons other than an outage), and after how many failures it gives up.
type failures struct{ failed, giveUpAfter int }
