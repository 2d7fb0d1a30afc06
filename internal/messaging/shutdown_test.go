package messaging_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/messaging"
)

// consumerInfo reads a durable's state from the server, not from a cache.
func consumerInfo(t *testing.T, js jetstream.JetStream, stream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := js.Consumer(context.Background(), stream, durable)
	if err != nil {
		t.Fatalf("consumer %q: %v", durable, err)
	}
	return c.CachedInfo() // fresh: Consumer just fetched it
}

// closeAsync calls sub.Close in the background and returns its result channel.
func closeAsync(sub *messaging.Subscriber) <-chan error {
	done := make(chan error, 1)
	go func() { done <- sub.Close() }()
	return done
}

// A message whose handler is mid-way when Close is called keeps a live
// context, Close waits for it, and its Ack reaches JetStream: nothing is left
// for AckWait, and a new subscriber on the durable gets nothing.
func TestCloseWaitsForInFlightAck(t *testing.T) {
	e := newEnv(t, "cmd.shutdown.ack")
	publishN(t, e.publisher(t), e.topic, 1)
	cfg := messaging.SubscriberConfig{AckWait: time.Second, CloseTimeout: 10 * time.Second}
	sub := e.subscriber(t, "shutdown", cfg)
	ch, err := sub.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	msg := receive(t, ch, 5*time.Second)

	closed := closeAsync(sub)
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a message was in flight", err)
	case <-msg.Context().Done():
		t.Fatal("message context cancelled by Close; the handler would be cut short")
	case <-time.After(300 * time.Millisecond):
	}
	msg.Ack()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the in-flight message was acked")
	}
	if _, open := <-ch; open {
		t.Fatal("channel open after Close")
	}
	select {
	case <-msg.Context().Done():
	default:
		t.Error("message context still live after it was settled")
	}

	eventually(t, 2*time.Second, "ack recorded", func() bool {
		info := consumerInfo(t, e.admin, e.stream, "shutdown")
		return info.AckFloor.Stream == 1 && info.NumAckPending == 0
	})
	again := e.subscriber(t, "shutdown", cfg)
	ch2, err := again.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	expectNothing(t, ch2, 1500*time.Millisecond) // longer than AckWait
}

// A Nack during Close reaches JetStream too: the message comes back after its
// NakDelay, long before AckWait, as a second delivery.
func TestCloseSendsInFlightNack(t *testing.T) {
	e := newEnv(t, "cmd.shutdown.nack")
	publishN(t, e.publisher(t), e.topic, 1)
	cfg := messaging.SubscriberConfig{NakDelays: []time.Duration{50 * time.Millisecond}} // AckWait 30s
	sub := e.subscriber(t, "shutdown", cfg)
	ch, err := sub.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	msg := receive(t, ch, 5*time.Second)
	closed := closeAsync(sub)
	time.Sleep(100 * time.Millisecond) // Close is under way
	msg.Nack()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}

	again := e.subscriber(t, "shutdown", cfg)
	ch2, err := again.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	redelivered := receive(t, ch2, 5*time.Second)
	if attempt, _, _ := messaging.Delivery(redelivered.Context()); attempt != 2 || redelivered.UUID != msg.UUID {
		t.Fatalf("got %s attempt %d, want %s attempt 2", redelivered.UUID, attempt, msg.UUID)
	}
	redelivered.Ack()
}

// A handler that never settles is abandoned CloseTimeout after Close: Close
// returns, the message context ends, and JetStream redelivers after AckWait.
func TestCloseAbandonsAfterCloseTimeout(t *testing.T) {
	e := newEnv(t, "cmd.shutdown.stuck")
	publishN(t, e.publisher(t), e.topic, 1)
	cfg := messaging.SubscriberConfig{AckWait: time.Second, CloseTimeout: 300 * time.Millisecond}
	sub := e.subscriber(t, "shutdown", cfg)
	ch, err := sub.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	msg := receive(t, ch, 5*time.Second)
	start := time.Now()
	if err := <-closeAsync(sub); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond || waited > 5*time.Second {
		t.Errorf("Close took %s, want about CloseTimeout (300ms)", waited)
	}
	select {
	case <-msg.Context().Done():
	case <-time.After(time.Second):
		t.Fatal("context of an abandoned message not cancelled")
	}

	again := e.subscriber(t, "shutdown", cfg)
	ch2, err := again.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	redelivered := receive(t, ch2, 5*time.Second)
	if attempt, _, _ := messaging.Delivery(redelivered.Context()); attempt != 2 {
		t.Errorf("attempt = %d, want 2", attempt)
	}
	redelivered.Ack()
}

// newTestRouter returns a router built by NewRouter, with its registry. run
// starts it; it is closed when the test ends.
func newTestRouter(t *testing.T, cfg messaging.RouterConfig, deadLetters *messaging.Publisher) (*message.Router, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if cfg.DeadLetterTopic == "" {
		cfg.DeadLetterTopic = events.SubjectDeadLetters
	}
	r, err := messaging.NewRouter(cfg, deadLetters, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	return r, reg
}

// runRouter runs r until the test ends.
func runRouter(t *testing.T, r *message.Router) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	t.Cleanup(func() {
		_ = r.Close()
		if err := <-done; err != nil {
			t.Errorf("router run: %v", err)
		}
	})
	select {
	case <-r.Running():
	case <-time.After(10 * time.Second):
		t.Fatal("router not running")
	}
}

// SIGTERM's path: Router.Close closes the subscriber at once while a slow
// handler runs. The handler finishes with a live context and its ack reaches
// the server.
func TestRouterCloseLetsSlowHandlerAck(t *testing.T) {
	e := newEnv(t, "cmd.shutdown.router")
	publishN(t, e.publisher(t), e.topic, 1)
	sub := e.subscriber(t, "router", messaging.SubscriberConfig{CloseTimeout: 10 * time.Second})
	r, _ := newTestRouter(t, messaging.RouterConfig{CloseTimeout: 10 * time.Second}, e.publisher(t))

	started := make(chan struct{})
	var once sync.Once
	finished := make(chan error, 1)
	r.AddConsumerHandler("slow", e.topic, sub, func(msg *message.Message) error {
		once.Do(func() { close(started) })
		select {
		case <-time.After(700 * time.Millisecond):
			finished <- nil
			return nil
		case <-msg.Context().Done():
			finished <- msg.Context().Err()
			return msg.Context().Err()
		}
	})
	runRouter(t, r)

	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("handler not started")
	}
	if err := r.Close(); err != nil {
		t.Fatalf("router close: %v", err)
	}
	if err := <-finished; err != nil {
		t.Fatalf("handler's context ended early: %v", err)
	}
	eventually(t, 2*time.Second, "ack recorded", func() bool {
		info := consumerInfo(t, e.admin, e.stream, "router")
		return info.AckFloor.Stream == 1 && info.NumAckPending == 0 && info.NumPending == 0
	})
}
