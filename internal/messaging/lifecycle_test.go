package messaging_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shopflow/orders/internal/messaging"
)

func TestNewSubscriberReportsEveryProblem(t *testing.T) {
	_, err := messaging.NewSubscriber(nil, messaging.SubscriberConfig{
		AckWait:       -time.Second,
		MaxDeliver:    -2,
		MaxAckPending: -1,
		NakDelays:     []time.Duration{time.Second, -time.Second},
		Concurrency:   -2,
		CloseTimeout:  -time.Second,
	})
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"JetStream is nil", "Resolve", "AckWait", "MaxDeliver", "MaxAckPending", "NakDelays[1]", "Concurrency", "CloseTimeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestSubscriberCloseIsFinalAndKeepsConsumer(t *testing.T) {
	e := newEnv(t, "cmd.stock.reserve")
	sub := e.subscriber(t, "stock", messaging.SubscriberConfig{})
	ch, err := sub.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, open := <-ch; open {
		t.Fatal("channel open after Close")
	}
	if _, err := sub.Subscribe(context.Background(), e.topic); err == nil {
		t.Fatal("Subscribe after Close succeeded")
	}
	info, err := e.admin.Consumer(context.Background(), e.stream, "stock")
	if err != nil {
		t.Fatalf("consumer deleted by Close: %v", err)
	}
	if cfg := info.CachedInfo().Config; cfg.Durable != "stock" || cfg.FilterSubject != e.topic {
		t.Errorf("consumer config = durable %q filter %q", cfg.Durable, cfg.FilterSubject)
	}
}

// Cancelling the Subscribe context stops pulling, but the message already
// handed out keeps a live context and its Ack reaches JetStream; only then
// does the channel close.
func TestCancelledSubscriptionStillAcksMessageInFlight(t *testing.T) {
	e := newEnv(t, "cmd.order.cancel")
	publishN(t, e.publisher(t), e.topic, 2)

	sub := e.subscriber(t, "cancel", messaging.SubscriberConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := sub.Subscribe(ctx, e.topic)
	if err != nil {
		t.Fatal(err)
	}
	msg := receive(t, ch, 5*time.Second)
	cancel()
	select {
	case <-msg.Context().Done():
		t.Fatal("message context cancelled with the subscription; the handler would be cut short")
	case _, open := <-ch:
		t.Fatalf("channel yielded (open=%v) while a message was in flight", open)
	case <-time.After(300 * time.Millisecond):
	}
	msg.Ack()
	select {
	case _, open := <-ch:
		if open {
			t.Fatal("message after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after the in-flight message was acked")
	}
	eventually(t, 5*time.Second, "ack applied", func() bool { return ackFloor(t, e.admin, e.stream, "cancel") == 1 })
}

// Concurrency N hands out N messages at once, and no more.
func TestConcurrencyHandsOutThatManyMessages(t *testing.T) {
	e := newEnv(t, "cmd.mail.send")
	publishN(t, e.publisher(t), e.topic, 5)

	sub := e.subscriber(t, "mail", messaging.SubscriberConfig{Concurrency: 3})
	ch, err := sub.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	var held []*message.Message
	for range 3 {
		held = append(held, receive(t, ch, 5*time.Second))
	}
	expectNothing(t, ch, 300*time.Millisecond)
	held[0].Ack()
	held = append(held, receive(t, ch, 5*time.Second))
	for _, m := range held {
		m.Ack()
	}
	receive(t, ch, 5*time.Second).Ack()
}

// A durable already bound to another subject is refused rather than
// re-pointed under the feet of the instances reading it.
func TestSubscribeRefusesDurableOfAnotherTopic(t *testing.T) {
	e := newEnv(t, "cmd.>")
	_, js := connect(t, e.ns)
	sub, err := messaging.NewSubscriber(js, messaging.SubscriberConfig{
		Resolve: func(string) (string, string, error) { return e.stream, "shared", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := sub.Subscribe(context.Background(), "cmd.a"); err != nil {
		t.Fatal(err)
	}
	_, err = sub.Subscribe(context.Background(), "cmd.b")
	if err == nil || !strings.Contains(err.Error(), `already filters "cmd.a"`) {
		t.Fatalf("err = %v, want a refusal naming cmd.a", err)
	}
}

// Close leaves no goroutine behind, whether messages were in flight or not.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	e := newEnv(t, "leak.>")
	pub := e.publisher(t)
	topics := []string{"leak.a", "leak.b", "leak.c"}
	_, js := connect(t, e.ns)
	newSub := func() *messaging.Subscriber {
		sub, err := messaging.NewSubscriber(js, messaging.SubscriberConfig{
			Concurrency:  4,
			CloseTimeout: 200 * time.Millisecond, // messages are left in flight on purpose
			Resolve:      func(topic string) (string, string, error) { return e.stream, "leak-" + topic[len("leak."):], nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		return sub
	}
	run := func() {
		sub := newSub()
		for _, topic := range topics {
			ch, err := sub.Subscribe(context.Background(), topic)
			if err != nil {
				t.Fatal(err)
			}
			if err := pub.Publish(topic, message.NewMessage(fmt.Sprint(topic, time.Now().UnixNano()), nil)); err != nil {
				t.Fatal(err)
			}
			receive(t, ch, 5*time.Second) // left in flight on purpose
		}
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// The first round creates the consumers, whose server-side goroutines
	// (the server is embedded) outlive the subscriber by design.
	run()
	time.Sleep(200 * time.Millisecond)
	baseline := runtime.NumGoroutine()
	run()
	eventually(t, 5*time.Second, fmt.Sprintf("goroutines back to %d", baseline), func() bool {
		return runtime.NumGoroutine() <= baseline
	})
}

// Deleting the consumer under a subscription ends it: the channel closes, so
// a router notices instead of idling forever.
func TestDeletedConsumerEndsSubscription(t *testing.T) {
	e := newEnv(t, "cmd.deleted")
	sub := e.subscriber(t, "doomed", messaging.SubscriberConfig{})
	ch, err := sub.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.admin.DeleteConsumer(context.Background(), e.stream, "doomed"); err != nil {
		t.Fatal(err)
	}
	select {
	case _, open := <-ch:
		if open {
			t.Fatal("message from a deleted consumer")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("channel still open after the consumer was deleted")
	}
}

// A durable created with a delivery limit (as this package used to) is lifted
// to unlimited on the next Subscribe, so an outage cannot exhaust it.
func TestSubscribeLiftsMaxDeliverOfExistingDurable(t *testing.T) {
	e := newEnv(t, "cmd.legacy")
	_, err := e.admin.CreateOrUpdateConsumer(context.Background(), e.stream, jetstream.ConsumerConfig{
		Durable: "legacy", FilterSubject: e.topic, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	sub := e.subscriber(t, "legacy", messaging.SubscriberConfig{})
	if _, err := sub.Subscribe(context.Background(), e.topic); err != nil {
		t.Fatal(err)
	}
	if md := consumerInfo(t, e.admin, e.stream, "legacy").Config.MaxDeliver; md != -1 {
		t.Errorf("MaxDeliver = %d, want -1", md)
	}
}
