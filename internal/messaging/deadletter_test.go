package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/messaging"
	"github.com/shopflow/orders/internal/testenv"
)

// failingEnv runs NewRouter over one durable of env's stream, with tiny
// back-offs and GiveUpAfter 3, and records the delivery attempts its handler
// sees.
type failingEnv struct {
	*env
	reg      *prometheus.Registry
	mu       sync.Mutex
	attempts map[int]int // delivery attempt -> handler calls (in-process retries included)
}

const testHandler = "test-handler"

// newFailingEnv starts the router; handle decides each call's result from the
// delivery attempt. The dead-letter stream is created only if withDLQ.
func newFailingEnv(t *testing.T, topic string, withDLQ bool, handle func(attempt int) error) *failingEnv {
	t.Helper()
	f := &failingEnv{env: newEnv(t, topic), attempts: map[int]int{}}
	if withDLQ {
		f.createDLQ(t)
	}
	sub := f.subscriber(t, "worker", messaging.SubscriberConfig{
		NakDelays:    []time.Duration{5 * time.Millisecond, 20 * time.Millisecond},
		CloseTimeout: 5 * time.Second,
	})
	var r *message.Router
	r, f.reg = newTestRouter(t, messaging.RouterConfig{
		CloseTimeout: 5 * time.Second, Retries: 1, RetryInterval: time.Millisecond, GiveUpAfter: 3,
	}, f.publisher(t))
	r.AddConsumerHandler(testHandler, topic, sub, func(msg *message.Message) error {
		attempt, _, ok := messaging.Delivery(msg.Context())
		if !ok {
			return errors.New("no delivery in the message context")
		}
		f.mu.Lock()
		f.attempts[attempt]++
		f.mu.Unlock()
		return handle(attempt)
	})
	runRouter(t, r)
	return f
}

func (f *failingEnv) createDLQ(t *testing.T) {
	t.Helper()
	_, err := f.admin.CreateOrUpdateStream(context.Background(), jetstream.StreamConfig{
		Name: "DLQ", Subjects: []string{events.SubjectsDeadLetters}, Storage: jetstream.FileStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// maxAttempt returns the highest delivery attempt the handler saw.
func (f *failingEnv) maxAttempt() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := 0
	for a := range f.attempts {
		m = max(m, a)
	}
	return m
}

// deadLetters returns the messages in the dead-letter stream.
func (f *failingEnv) deadLetters(t *testing.T) []*jetstream.RawStreamMsg {
	t.Helper()
	s, err := f.admin.Stream(context.Background(), "DLQ")
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); seq <= s.CachedInfo().State.LastSeq; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// counted returns orders_dead_letters_total for the test handler.
func (f *failingEnv) counted(t *testing.T) float64 {
	t.Helper()
	return testenv.Counter(t, f.reg, "orders_dead_letters_total", "handler", testHandler)
}

// settled waits until the consumer has acked everything.
func (f *failingEnv) settled(t *testing.T) {
	t.Helper()
	eventually(t, 5*time.Second, "consumer settled", func() bool {
		info := consumerInfo(t, f.admin, f.stream, "worker")
		return info.AckFloor.Stream == 1 && info.NumAckPending == 0 && info.NumPending == 0
	})
}

// An outage outlasts GiveUpAfter (3) by far: the message is never
// dead-lettered, JetStream keeps redelivering (MaxDeliver unlimited), and it
// is handled once the dependency is back.
func TestUnavailableIsRetriedUntilItEnds(t *testing.T) {
	const recoversAt = 8
	f := newFailingEnv(t, "cmd.dlq.outage", true, func(attempt int) error {
		if attempt < recoversAt {
			return fmt.Errorf("insert order: %w", fault.ErrUnavailable)
		}
		return nil
	})
	publishN(t, f.publisher(t), f.topic, 1)
	f.settled(t)
	if got := f.maxAttempt(); got != recoversAt {
		t.Errorf("handled on attempt %d, want %d", got, recoversAt)
	}
	if dl := f.deadLetters(t); len(dl) != 0 {
		t.Errorf("%d dead letters, want none; reason %q", len(dl), dl[0].Header.Get(middleware.ReasonForPoisonedKey))
	}
	if got := f.counted(t); got != 0 {
		t.Errorf("orders_dead_letters_total = %v, want 0", got)
	}
	if md := consumerInfo(t, f.admin, f.stream, "worker").Config.MaxDeliver; md != -1 {
		t.Errorf("consumer MaxDeliver = %d, want -1 (unlimited)", md)
	}
}

// A plain error is given up on at attempt GiveUpAfter: dead-lettered with its
// reason, counted, acked, and not delivered again.
func TestPlainErrorIsDeadLetteredAfterGiveUpAfter(t *testing.T) {
	f := newFailingEnv(t, "cmd.dlq.plain", true, func(int) error { return errors.New("stock row is corrupt") })
	msgs := publishN(t, f.publisher(t), f.topic, 1)
	f.settled(t)
	dl := f.deadLetters(t)
	if len(dl) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dl))
	}
	reason := dl[0].Header.Get(middleware.ReasonForPoisonedKey)
	if !strings.Contains(reason, "gave up after 3 failures") || !strings.Contains(reason, "stock row is corrupt") {
		t.Errorf("reason %q does not say it gave up after 3 failures, and why", reason)
	}
	if id := dl[0].Header.Get(messaging.MessageIDPoisonedKey); id != msgs[0].UUID {
		t.Errorf("dead letter's %s = %q, want the message UUID %q", messaging.MessageIDPoisonedKey, id, msgs[0].UUID)
	}
	if id := dl[0].Header.Get(jetstream.MsgIDHeader); id == msgs[0].UUID {
		t.Errorf("dead letter's Nats-Msg-Id is the message's %q: a second entry for it would be dropped", id)
	}
	if got := f.counted(t); got != 1 {
		t.Errorf("orders_dead_letters_total = %v, want 1", got)
	}
	time.Sleep(200 * time.Millisecond) // a redelivery would show now
	if got := f.maxAttempt(); got != 3 {
		t.Errorf("last attempt = %d, want 3", got)
	}
}

// A permanent error is dead-lettered on its first delivery, without retries.
func TestPermanentErrorIsDeadLetteredAtOnce(t *testing.T) {
	f := newFailingEnv(t, "cmd.dlq.permanent", true, func(int) error {
		return fault.Permanent(errors.New("undecodable payload"))
	})
	publishN(t, f.publisher(t), f.topic, 1)
	f.settled(t)
	dl := f.deadLetters(t)
	if len(dl) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dl))
	}
	h := dl[0].Header
	if r := h.Get(middleware.ReasonForPoisonedKey); !strings.Contains(r, "undecodable payload") {
		t.Errorf("reason %q", r)
	}
	if h.Get(middleware.PoisonedTopicKey) != f.topic || h.Get(middleware.PoisonedHandlerKey) != testHandler {
		t.Errorf("origin = topic %q handler %q", h.Get(middleware.PoisonedTopicKey), h.Get(middleware.PoisonedHandlerKey))
	}
	f.mu.Lock()
	calls := f.attempts[1]
	f.mu.Unlock()
	if calls != 1 || f.maxAttempt() != 1 {
		t.Errorf("handler called %d times, up to attempt %d; want once", calls, f.maxAttempt())
	}
	if got := f.counted(t); got != 1 {
		t.Errorf("orders_dead_letters_total = %v, want 1", got)
	}
}

// When the dead-letter stream cannot store the message, it is nacked, not
// acked: JetStream redelivers it, nothing is counted, and it is dead-lettered
// once the stream is there.
func TestFailedDeadLetterPublishRedelivers(t *testing.T) {
	f := newFailingEnv(t, "cmd.dlq.nostream", false, func(int) error {
		return fault.Permanent(errors.New("undecodable payload"))
	})
	publishN(t, f.publisher(t), f.topic, 1)
	eventually(t, 15*time.Second, "redelivery after a failed dead-letter publish", func() bool { return f.maxAttempt() >= 2 })
	if got := f.counted(t); got != 0 {
		t.Errorf("orders_dead_letters_total = %v while nothing was dead-lettered", got)
	}
	if info := consumerInfo(t, f.admin, f.stream, "worker"); info.AckFloor.Stream != 0 {
		t.Fatalf("ack floor %d: the message was acked without being dead-lettered", info.AckFloor.Stream)
	}

	f.createDLQ(t)
	f.settled(t)
	if dl := f.deadLetters(t); len(dl) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dl))
	}
	if got := f.counted(t); got != 1 {
		t.Errorf("orders_dead_letters_total = %v, want 1", got)
	}
}
