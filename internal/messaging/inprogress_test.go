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

// TestAMessageWaitingForAWorkerIsNotRedelivered: messages fetched ahead of a busy worker wait
// for it; they too are kept (InProgress) and handed out once, however long the wait.
func TestAMessageWaitingForAWorkerIsNotRedelivered(t *testing.T) {
	e := newEnv(t, "cmd.payment.queued")
	publishN(t, e.publisher(t), e.topic, 2)
	sub := e.subscriber(t, "queued", messaging.SubscriberConfig{AckWait: time.Second, Concurrency: 1})
	ch, err := sub.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	first := receive(t, ch, 5*time.Second)
	time.Sleep(3500 * time.Millisecond) // the second message waits behind the first for three AckWaits
	first.Ack()
	second := receive(t, ch, 5*time.Second)
	if attempt, _, _ := messaging.Delivery(second.Context()); second.UUID == first.UUID || attempt != 1 {
		t.Fatalf("next message %s on attempt %d; want the other message, delivered once", second.UUID, attempt)
	}
	second.Ack()
	expectNothing(t, ch, 1500*time.Millisecond)
}
