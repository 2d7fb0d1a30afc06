package messaging_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shopflow/orders/internal/messaging"
)

// publishN publishes n messages with payloads "0".."n-1" and returns them.
func publishN(t *testing.T, pub *messaging.Publisher, topic string, n int) []*message.Message {
	t.Helper()
	msgs := make([]*message.Message, n)
	for i := range msgs {
		msgs[i] = message.NewMessage(fmt.Sprintf("msg-%d", i), []byte(fmt.Sprint(i)))
	}
	if err := pub.Publish(topic, msgs...); err != nil {
		t.Fatal(err)
	}
	return msgs
}

// ackFloor returns the stream sequence up to which durable has acked all.
func ackFloor(t *testing.T, js jetstream.JetStream, stream, durable string) uint64 {
	t.Helper()
	c, err := js.Consumer(context.Background(), stream, durable)
	if err != nil {
		t.Fatalf("consumer %q: %v", durable, err)
	}
	return c.CachedInfo().AckFloor.Stream
}

// Acked messages stay acked across Close and a server restart; unacked ones
// come back, with their delivery count kept.
func TestConsumerSurvivesCloseAndServerRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnvIn(t, dir, "cmd.order.place")
	publishN(t, e.publisher(t), e.topic, 4)

	// msg-2 is left unacked on purpose: a short CloseTimeout abandons it.
	cfg := messaging.SubscriberConfig{AckWait: time.Second, CloseTimeout: 200 * time.Millisecond}
	sub1 := e.subscriber(t, "orders", cfg)
	ch1, err := sub1.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"msg-0", "msg-1"} {
		if msg := receive(t, ch1, 5*time.Second); msg.UUID != want {
			t.Fatalf("got %s, want %s", msg.UUID, want)
		} else {
			msg.Ack()
		}
	}
	if msg := receive(t, ch1, 5*time.Second); msg.UUID != "msg-2" {
		t.Fatalf("got %s, want msg-2", msg.UUID)
	} // msg-2 is left unacked on purpose.

	// Ack is fire-and-forget: wait until the server has applied both acks.
	eventually(t, 5*time.Second, "ack floor 2", func() bool { return ackFloor(t, e.admin, e.stream, "orders") >= 2 })
	if err := sub1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, open := <-ch1; open {
		t.Fatal("channel still open after Close")
	}
	if _, err := e.admin.Consumer(context.Background(), e.stream, "orders"); err != nil {
		t.Fatalf("consumer gone after Close: %v", err)
	}

	// Restart the server on the same files.
	e.ns.Shutdown()
	e.ns.WaitForShutdown()
	e.ns = startServer(t, dir)
	_, e.admin = connect(t, e.ns)

	sub2 := e.subscriber(t, "orders", cfg)
	ch2, err := sub2.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for len(got) < 2 {
		msg := receive(t, ch2, 10*time.Second)
		attempt, _, _ := messaging.Delivery(msg.Context())
		got[msg.UUID] = attempt
		msg.Ack()
	}
	if _, ok := got["msg-2"]; !ok {
		t.Fatalf("unacked msg-2 not redelivered, got %v", got)
	}
	if _, ok := got["msg-3"]; !ok {
		t.Fatalf("msg-3 not delivered, got %v", got)
	}
	if got["msg-2"] < 2 {
		t.Errorf("msg-2 attempt = %d, want >= 2 (delivery count survives restart)", got["msg-2"])
	}
	// Longer than AckWait: acked messages must not come back.
	expectNothing(t, ch2, 1500*time.Millisecond)
}

// Two subscribers on one durable share the messages: each is handled once.
func TestSharedDurableSplitsWork(t *testing.T) {
	e := newEnv(t, "evt.order.placed")
	const n = 100
	publishN(t, e.publisher(t), e.topic, n)

	var (
		mu    sync.Mutex
		seen  = map[string]int{}
		bySub [2]int
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 2 {
		sub := e.subscriber(t, "billing", messaging.SubscriberConfig{})
		ch, err := sub.Subscribe(ctx, e.topic)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for msg := range ch {
				time.Sleep(time.Millisecond) // let the other subscriber pull too
				mu.Lock()
				seen[msg.UUID]++
				bySub[i]++
				mu.Unlock()
				msg.Ack()
			}
		}()
	}

	eventually(t, 20*time.Second, "all messages", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	time.Sleep(300 * time.Millisecond) // a duplicate would show up now
	cancel()
	wg.Wait()

	for id, count := range seen {
		if count != 1 {
			t.Errorf("%s handled %d times", id, count)
		}
	}
	if bySub[0] == 0 || bySub[1] == 0 {
		t.Errorf("work not shared: %v", bySub)
	}
}

// A Nack redelivers after the configured delay, with the attempt visible
// through Delivery.
func TestNackRedeliversWithDelayAndAttempt(t *testing.T) {
	e := newEnv(t, "cmd.payment.capture")
	publishN(t, e.publisher(t), e.topic, 1)

	delays := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}
	sub := e.subscriber(t, "payments", messaging.SubscriberConfig{MaxDeliver: 5, NakDelays: delays})
	ch, err := sub.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}

	var nackedAt time.Time
	for attempt := 1; attempt <= 3; attempt++ {
		msg := receive(t, ch, 5*time.Second)
		if attempt > 1 {
			// Lower bound only: redelivery is never earlier than asked.
			if waited, want := time.Since(nackedAt), delays[min(attempt-2, 1)]; waited < want {
				t.Errorf("attempt %d came after %s, want >= %s", attempt, waited, want)
			}
		}
		got, maxDeliver, ok := messaging.Delivery(msg.Context())
		if !ok || got != attempt || maxDeliver != 5 {
			t.Fatalf("Delivery = (%d, %d, %v), want (%d, 5, true)", got, maxDeliver, ok, attempt)
		}
		if attempt == 3 {
			msg.Ack()
			break
		}
		nackedAt = time.Now()
		msg.Nack()
	}
	expectNothing(t, ch, 600*time.Millisecond)

	if _, _, ok := messaging.Delivery(context.Background()); ok {
		t.Error("Delivery reports ok for a context without a delivery")
	}
}

// A message that was not published by the adapter (no Nats-Msg-Id, bytes
// that are not valid anything) is delivered as is, and the subscription goes
// on.
func TestGarbagePayloadWithoutMsgID(t *testing.T) {
	e := newEnv(t, "evt.external")
	_, rawJS := connect(t, e.ns)
	garbage := []byte{0xff, 0x00, 0xfe, '{', 0x80, '"'}
	ack, err := rawJS.PublishMsg(context.Background(), &nats.Msg{
		Subject: e.topic,
		Data:    garbage,
		Header:  nats.Header{"x-lower": []string{"a"}, "X-Upper": []string{"b"}, "Nats-Expected-Stream": []string{e.stream}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rawJS.Publish(context.Background(), e.topic, nil); err != nil { // empty, no headers
		t.Fatal(err)
	}

	sub := e.subscriber(t, "external", messaging.SubscriberConfig{})
	ch, err := sub.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}

	msg := receive(t, ch, 5*time.Second)
	if want := fmt.Sprintf("%s-%d", e.stream, ack.Sequence); msg.UUID != want {
		t.Errorf("UUID = %q, want %q", msg.UUID, want)
	}
	if string(msg.Payload) != string(garbage) {
		t.Errorf("payload = %x, want %x", msg.Payload, garbage)
	}
	want := message.Metadata{"x-lower": "a", "X-Upper": "b"}
	if len(msg.Metadata) != len(want) || msg.Metadata["x-lower"] != "a" || msg.Metadata["X-Upper"] != "b" {
		t.Errorf("metadata = %v, want %v", msg.Metadata, want)
	}
	msg.Ack()

	empty := receive(t, ch, 5*time.Second)
	if len(empty.Payload) != 0 || empty.UUID != fmt.Sprintf("%s-%d", e.stream, ack.Sequence+1) {
		t.Errorf("empty message: UUID %q payload %q", empty.UUID, empty.Payload)
	}
	empty.Ack()
}

// A subscription whose stream JetStream cannot show yet (a cluster still electing its leaders
// after a node restarted answers so, or not at all) keeps trying for a while instead of
// failing its process at once.
func TestSubscribeWaitsForJetStreamToAnswer(t *testing.T) {
	ns := startServer(t, t.TempDir())
	_, js := connect(t, ns)
	sub, err := messaging.NewSubscriber(js, messaging.SubscriberConfig{
		Resolve: func(string) (string, string, error) { return "LATE", "late", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx := context.Background()
	created := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LATE", Subjects: []string{"late.>"}})
		created <- err
	}()
	ch, err := sub.Subscribe(ctx, "late.a")
	if err != nil {
		t.Fatalf("subscribe while the stream was not there yet: %v", err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "late.a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	receive(t, ch, 10*time.Second).Ack()
}
