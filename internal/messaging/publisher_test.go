package messaging_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shopflow/orders/internal/messaging"
)

// Nats-Msg-Id is the UUID, so a republish is stored once, alone or in a batch.
func TestPublishDeduplicatesByUUID(t *testing.T) {
	e := newEnv(t, "evt.order.paid")
	pub := e.publisher(t)

	msg := message.NewMessage("order-42-paid", []byte(`{"order":42}`))
	for range 2 {
		if err := pub.Publish(e.topic, msg); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.streamMsgs(t); got != 1 {
		t.Fatalf("stream holds %d messages after publishing one twice, want 1", got)
	}

	batch := []*message.Message{msg.Copy(), message.NewMessage("order-43-paid", nil), message.NewMessage("order-44-paid", nil)}
	if err := pub.Publish(e.topic, batch...); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(e.topic, batch...); err != nil {
		t.Fatal(err)
	}
	if got := e.streamMsgs(t); got != 3 {
		t.Fatalf("stream holds %d messages, want 3", got)
	}

	raw, err := e.admin.Stream(context.Background(), e.stream)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := raw.GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if id := stored.Header.Get(jetstream.MsgIDHeader); id != "order-42-paid" {
		t.Errorf("Nats-Msg-Id = %q, want the UUID", id)
	}
}

// Metadata keys keep their exact case both ways; Nats-Msg-Id cannot be
// overridden through metadata; values are sanitised by nats.go.
func TestMetadataRoundTripKeepsCase(t *testing.T) {
	e := newEnv(t, "evt.order.shipped")
	pub := e.publisher(t)
	msg := message.NewMessage("m-1", []byte("x"))
	msg.Metadata.Set("traceparent", "00-abc-def-01")
	msg.Metadata.Set("Traceparent", "other")
	msg.Metadata.Set("correlation_id", "c-1")
	msg.Metadata.Set("Nats-Msg-Id", "not-the-uuid")
	msg.Metadata.Set("empty", "")
	msg.Metadata.Set("multiline", " line one\r\nline two ")
	if err := pub.Publish(e.topic, msg); err != nil {
		t.Fatal(err)
	}

	sub := e.subscriber(t, "shipping", messaging.SubscriberConfig{})
	ch, err := sub.Subscribe(context.Background(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	got := receive(t, ch, 5*time.Second)
	got.Ack()
	if got.UUID != "m-1" {
		t.Errorf("UUID = %q, want m-1", got.UUID)
	}
	// nats.go trims values and turns CR/LF into spaces: recorded here so an
	// upgrade that changes it shows up.
	want := message.Metadata{
		"traceparent": "00-abc-def-01", "Traceparent": "other", "correlation_id": "c-1",
		"empty": "", "multiline": "line one  line two",
	}
	if len(got.Metadata) != len(want) {
		t.Fatalf("metadata = %v, want %v", got.Metadata, want)
	}
	for k, v := range want {
		if got.Metadata[k] != v {
			t.Errorf("metadata[%q] = %q, want %q", k, got.Metadata[k], v)
		}
	}
}

func TestPublishRejectsInvalidMessagesBeforeSending(t *testing.T) {
	e := newEnv(t, "evt.bad")
	pub := e.publisher(t)
	good := message.NewMessage("good", nil)
	bad := message.NewMessage("bad", nil)
	bad.Metadata.Set("has space", "v")

	err := pub.Publish(e.topic, good, bad)
	if err == nil || !strings.Contains(err.Error(), `"has space"`) {
		t.Fatalf("err = %v, want one naming the key", err)
	}
	if err := pub.Publish(e.topic, message.NewMessage("", nil)); err == nil {
		t.Fatal("empty UUID accepted")
	}
	if err := pub.Publish(e.topic, nil); err == nil {
		t.Fatal("nil message accepted")
	}
	if got := e.streamMsgs(t); got != 0 {
		t.Fatalf("stream holds %d messages, want 0", got)
	}
}

func TestPublishFailsWithoutStream(t *testing.T) {
	e := newEnv(t, "evt.known")
	pub := e.publisher(t)
	if err := pub.Publish("evt.unknown", message.NewMessage("a", nil)); err == nil {
		t.Fatal("publish to a subject without stream succeeded")
	}
	err := pub.Publish("evt.unknown", message.NewMessage("b", nil), message.NewMessage("c", nil))
	if err == nil || !strings.Contains(err.Error(), "message b") {
		t.Fatalf("err = %v, want the first message named", err)
	}
}

func TestPublishHonoursMessageContext(t *testing.T) {
	e := newEnv(t, "evt.ctx")
	pub := e.publisher(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	one := message.NewMessage("one", nil)
	one.SetContext(ctx)
	if err := pub.Publish(e.topic, one); err == nil {
		t.Fatal("publish with a cancelled context succeeded")
	}
	two := message.NewMessage("two", nil)
	two.SetContext(ctx)
	if err := pub.Publish(e.topic, message.NewMessage("first", nil), two); err == nil {
		t.Fatal("batch with a cancelled context succeeded")
	}
}

// Close stops the publisher but leaves the caller's connection alone.
func TestPublisherCloseKeepsConnection(t *testing.T) {
	e := newEnv(t, "evt.close")
	nc, js := connect(t, e.ns)
	pub, err := messaging.NewPublisher(js, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := pub.Publish(e.topic, message.NewMessage("late", nil)); err == nil {
		t.Fatal("Publish after Close succeeded")
	}
	if nc.IsClosed() || nc.IsDraining() {
		t.Fatal("Close closed the caller's connection")
	}
	if _, err := js.Publish(context.Background(), e.topic, []byte("still works")); err != nil {
		t.Fatalf("connection unusable after Close: %v", err)
	}
	if _, err := messaging.NewPublisher(nil, nil); err == nil {
		t.Fatal("NewPublisher accepted a nil JetStream")
	}
}
