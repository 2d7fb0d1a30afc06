package messaging_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopflow/orders/internal/messaging"
)

// TestAHandlerLongerThanAckWaitIsNotRedelivered: while a handler works on a message, the
// subscription tells JetStream so (InProgress), and the message is not redelivered to another
// worker behind its back, however long the handler takes within MaxWork.
func TestAHandlerLongerThanAckWaitIsNotRedelivered(t *testing.T) {
	e := newEnv(t, "cmd.payment.slow")
	publishN(t, e.publisher(t), e.topic, 1)
	sub := e.subscriber(t, "slow", messaging.SubscriberConfig{AckWait: time.Second, Concurrency: 2})
	ch, err := sub.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	msg := receive(t, ch, 5*time.Second)
	expectNothing(t, ch, 3500*time.Millisecond) // three AckWaits of work
	msg.Ack()
	expectNothing(t, ch, 1500*time.Millisecond)
}

// TestAHandlerPastMaxWorkIsRedelivered: a handler that outlives MaxWork is taken for hung: the
// heartbeats stop and JetStream redelivers after AckWait.
func TestAHandlerPastMaxWorkIsRedelivered(t *testing.T) {
	e := newEnv(t, "cmd.payment.hung")
	publishN(t, e.publisher(t), e.topic, 1)
	sub := e.subscriber(t, "hung", messaging.SubscriberConfig{AckWait: time.Second, MaxWork: 2 * time.Second, Concurrency: 2})
	ch, err := sub.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	first := receive(t, ch, 5*time.Second)
	again := receive(t, ch, 6*time.Second)
	if again.UUID != first.UUID {
		t.Fatalf("redelivered %s, want %s", again.UUID, first.UUID)
	}
	again.Ack()
}
