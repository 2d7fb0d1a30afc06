package messaging_test

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/shopflow/orders/internal/messaging"
)

// suiteFeatures are the watermill features the adapter really has.
//
//   - ConsumerGroups: a durable consumer is a consumer group.
//   - Persistent: messages and consumer positions live in the stream.
//   - GuaranteedOrder false: a Nack redelivers later while the following
//     messages go on, Concurrency > 1 reorders, and instances sharing a
//     durable consume in parallel.
//   - ExactlyOnceDelivery false: at least once (AckWait, abandoned messages).
//   - NewSubscriberReceivesOldMessages false: the suite's plain constructor
//     models one service's subscriber, and instances of one service share a
//     durable, so a new instance continues where the others are. A fresh
//     durable does receive old messages: see
//     TestFreshDurableReceivesOldMessages.
func suiteFeatures() tests.Features {
	return tests.Features{
		ConsumerGroups:                   true,
		Persistent:                       true,
		GuaranteedOrder:                  false,
		ExactlyOnceDelivery:              false,
		NewSubscriberReceivesOldMessages: false,
	}
}

// suiteConfig keeps the suite fast: a short AckWait so messages abandoned by
// the many Close calls come back quickly (the suite also passed with the 30 s
// default, with less margin), short Nack delays, and a high
// MaxDeliver because TestContinueAfterErrors nacks the same few messages
// hundreds of times. A short CloseTimeout because the suite closes
// subscribers with messages left unacked on purpose, and TestMessageCtx wants
// their contexts cancelled soon after Close: here that happens when
// CloseTimeout abandons them, not at once.
func suiteConfig() messaging.SubscriberConfig {
	return messaging.SubscriberConfig{
		AckWait:      2 * time.Second,
		MaxDeliver:   1000,
		NakDelays:    []time.Duration{10 * time.Millisecond},
		Concurrency:  1,
		CloseTimeout: 500 * time.Millisecond,
	}
}

// pubSubFactory builds publishers and subscribers against one server.
type pubSubFactory struct {
	ns   *server.Server
	prov *provisioner
	cfg  messaging.SubscriberConfig
}

func newPubSubFactory(t *testing.T) *pubSubFactory {
	ns := startServer(t, t.TempDir())
	_, admin := connect(t, ns)
	return &pubSubFactory{ns: ns, prov: &provisioner{js: admin}, cfg: suiteConfig()}
}

// build returns a publisher and a subscriber, each on its own connection,
// whose subscriptions use the durable that durableFor names.
func (f *pubSubFactory) build(t *testing.T, durableFor func(topic string) string) (message.Publisher, message.Subscriber) {
	t.Helper()
	_, pubJS := connect(t, f.ns)
	pub, err := messaging.NewPublisher(pubJS, nil)
	if err != nil {
		t.Fatal(err)
	}

	cfg := f.cfg
	cfg.Resolve = func(topic string) (string, string, error) {
		stream, err := f.prov.ensure(topic)
		return stream, durableFor(topic), err
	}
	_, subJS := connect(t, f.ns)
	sub, err := messaging.NewSubscriber(subJS, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Registered after connect, so it runs before the connections close.
	t.Cleanup(func() {
		_ = sub.Close()
		_ = pub.Close()
	})
	return provisioningPublisher{Publisher: pub, prov: f.prov}, sub
}

func TestPubSub(t *testing.T) {
	f := newPubSubFactory(t)
	tests.TestPubSub(t, suiteFeatures(),
		// Every plain subscriber of a topic is an instance of the same
		// service: one durable per topic (each topic has its own stream).
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			return f.build(t, func(string) string { return "service" })
		},
		func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
			return f.build(t, func(string) string { return group })
		},
	)
}

// TestFreshDurableReceivesOldMessages runs the suite's
// TestNewSubscriberReceivesOldMessages with a new durable per subscriber:
// JetStream keeps consumed messages, so a new consumer group starts at the
// beginning of the stream (DeliverAll).
func TestFreshDurableReceivesOldMessages(t *testing.T) {
	f := newPubSubFactory(t)
	features := suiteFeatures()
	features.NewSubscriberReceivesOldMessages = true
	tests.TestNewSubscriberReceivesOldMessages(t,
		tests.TestContext{TestID: tests.NewTestID(), Features: features},
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			durable := "fresh-" + watermill.NewShortUUID()
			return f.build(t, func(string) string { return durable })
		},
	)
}

// TestNoAckBlocksNextMessage runs the suite's TestNoAck, which checks that a
// subscription with Concurrency 1 hands out nothing new until the current
// message is acked. The suite gates it on GuaranteedOrder, which the adapter
// does not claim; the property it checks does hold.
func TestNoAckBlocksNextMessage(t *testing.T) {
	f := newPubSubFactory(t)
	features := suiteFeatures()
	features.GuaranteedOrder = true // only to get past the test's gate
	tests.TestNoAck(t,
		tests.TestContext{TestID: tests.NewTestID(), Features: features},
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			return f.build(t, func(string) string { return "service" })
		},
	)
}
