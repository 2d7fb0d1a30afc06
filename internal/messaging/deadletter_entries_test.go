package messaging_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/broker"
	"github.com/shopflow/orders/internal/messaging"
	"github.com/shopflow/orders/internal/testenv"
)

// deadLetterStream creates the application's dead-letter stream (default duplicate window of
// two minutes, as in production) and returns it.
func deadLetterStream(t *testing.T, admin jetstream.JetStream) jetstream.Stream {
	t.Helper()
	s, err := admin.CreateOrUpdateStream(context.Background(), jetstream.StreamConfig{
		Name: events.StreamDeadLetters, Subjects: []string{events.SubjectsDeadLetters}, Storage: jetstream.FileStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// storedMsgs returns the messages s holds now.
func storedMsgs(t *testing.T, s jetstream.Stream) uint64 {
	t.Helper()
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// alwaysPermanent routes topic's messages through one handler per durable (handler name =
// durable), each failing for good, and returns the router's registry.
func alwaysPermanent(t *testing.T, e *env, durables ...string) *prometheus.Registry {
	t.Helper()
	r, reg := newTestRouter(t, messaging.RouterConfig{CloseTimeout: 5 * time.Second, Retries: 1, RetryInterval: time.Millisecond}, e.publisher(t))
	for _, d := range durables {
		sub := e.subscriber(t, d, messaging.SubscriberConfig{NakDelays: []time.Duration{5 * time.Millisecond}, CloseTimeout: 5 * time.Second})
		r.AddConsumerHandler(d, e.topic, sub, func(*message.Message) error {
			return fault.Permanent(errors.New("undecodable payload"))
		})
	}
	runRouter(t, r)
	return reg
}

// Issue 11, finding 4 (a): a message redriven and dead-lettered again within the dead-letter
// stream's duplicate window gets an entry of its own, instead of being acked as a duplicate
// and kept by no stream.
func TestRedrivenMessageDeadLetteredAgainIsKept(t *testing.T) {
	e := newEnv(t, "cmd.dlq.again")
	// A short window on the origin stream lets the redrive through at once; the dead-letter
	// stream keeps its two minutes.
	if _, err := e.admin.UpdateStream(context.Background(), jetstream.StreamConfig{
		Name: e.stream, Subjects: []string{e.topic}, Storage: jetstream.FileStorage, Duplicates: 100 * time.Millisecond,
	}); err != nil {
		t.Fatal(err)
	}
	dlq := deadLetterStream(t, e.admin)
	reg := alwaysPermanent(t, e, "worker")
	publishN(t, e.publisher(t), e.topic, 1)
	eventually(t, 10*time.Second, "first dead letter", func() bool { return storedMsgs(t, dlq) == 1 })

	eventually(t, 10*time.Second, "redrive accepted", func() bool {
		err := broker.Redrive(context.Background(), e.admin, 1)
		if err != nil && !errors.Is(err, broker.ErrRedriveTooSoon) {
			t.Fatalf("redrive: %v", err)
		}
		return err == nil
	})
	eventually(t, 10*time.Second, "redriven copy handled", func() bool {
		info := consumerInfo(t, e.admin, e.stream, "worker")
		return info.AckFloor.Stream == 2 && info.NumAckPending == 0
	})
	if got := testenv.Counter(t, reg, "orders_dead_letters_total", "handler", "worker"); got != 2 {
		t.Errorf("orders_dead_letters_total = %v, want 2", got)
	}
	if got := storedMsgs(t, dlq); got != 1 {
		t.Fatalf("dead-letter stream holds %d messages after the redriven copy was dead-lettered again, want 1", got)
	}
}

// Issue 11, finding 4 (b): one event dead-lettered by two consumers is two entries, one per
// handler.
func TestEventDeadLetteredByTwoConsumersKeepsBoth(t *testing.T) {
	e := newEnv(t, "evt.dlq.two")
	dlq := deadLetterStream(t, e.admin)
	reg := alwaysPermanent(t, e, "payment", "reporting")
	msgs := publishN(t, e.publisher(t), e.topic, 1)
	eventually(t, 10*time.Second, "both consumers done", func() bool {
		return consumerInfo(t, e.admin, e.stream, "payment").AckFloor.Stream == 1 &&
			consumerInfo(t, e.admin, e.stream, "reporting").AckFloor.Stream == 1
	})
	for _, h := range []string{"payment", "reporting"} {
		if got := testenv.Counter(t, reg, "orders_dead_letters_total", "handler", h); got != 1 {
			t.Errorf("orders_dead_letters_total{handler=%q} = %v, want 1", h, got)
		}
	}
	if got := storedMsgs(t, dlq); got != 2 {
		t.Fatalf("dead-letter stream holds %d messages, want 2 (one per consumer)", got)
	}
	dls, err := broker.ListDeadLetters(context.Background(), e.admin, 10)
	if err != nil {
		t.Fatal(err)
	}
	var handlers []string
	for _, d := range dls {
		handlers = append(handlers, d.Handler)
		if d.ID != msgs[0].UUID {
			t.Errorf("dead letter %d lists id %q, want the message's %q", d.Seq, d.ID, msgs[0].UUID)
		}
	}
	slices.Sort(handlers)
	if !slices.Equal(handlers, []string{"payment", "reporting"}) {
		t.Errorf("dead letters from handlers %v", handlers)
	}
}

// A dead-letter publish that JetStream acknowledges as a duplicate stored nothing: the message
// is nacked, not acked, and is dead-lettered on its next delivery (a new entry id).
func TestDuplicateDeadLetterAckIsNotAStore(t *testing.T) {
	e := newEnv(t, "cmd.dlq.dup")
	dlq := deadLetterStream(t, e.admin)
	// An entry already under the id the first delivery's dead-lettering will use.
	planted := nats.NewMsg(events.SubjectDeadLetters)
	planted.Header.Set(jetstream.MsgIDHeader, "msg-0/dl/worker/"+e.stream+"/1/1")
	if _, err := e.admin.PublishMsg(context.Background(), planted); err != nil {
		t.Fatal(err)
	}
	reg := alwaysPermanent(t, e, "worker")
	publishN(t, e.publisher(t), e.topic, 1)
	eventually(t, 10*time.Second, "message settled", func() bool {
		info := consumerInfo(t, e.admin, e.stream, "worker")
		return info.AckFloor.Stream == 1 && info.NumAckPending == 0
	})
	if got := storedMsgs(t, dlq); got != 2 {
		t.Fatalf("dead-letter stream holds %d messages, want the planted one and the message's", got)
	}
	if got := testenv.Counter(t, reg, "orders_dead_letters_total", "handler", "worker"); got != 1 {
		t.Errorf("orders_dead_letters_total = %v, want 1", got)
	}
}
