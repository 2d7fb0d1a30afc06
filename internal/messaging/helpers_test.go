package messaging_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shopflow/orders/internal/messaging"
)

// startServer starts an embedded JetStream server whose files live in dir,
// shut down when the test ends.
func startServer(t testing.TB, dir string) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		JetStream: true,
		StoreDir:  dir,
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		NoSigs:    true,
		NoLog:     true,
	})
	if err != nil {
		t.Fatalf("new nats server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// connect opens a connection of its own, closed when the test ends.
func connect(t testing.TB, ns *server.Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// streamName derives a valid stream name from a subject.
func streamName(topic string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		default:
			return '_'
		}
	}, topic)
}

// provisioner creates one stream per topic, once. Provisioning is test code:
// production streams are created by deployment, never by the adapter.
type provisioner struct {
	js   jetstream.JetStream
	done sync.Map // topic -> struct{}
}

func (p *provisioner) ensure(topic string) (string, error) {
	name := streamName(topic)
	if _, ok := p.done.Load(topic); ok {
		return name, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     name,
		Subjects: []string{topic},
		Storage:  jetstream.FileStorage,
	})
	if err != nil {
		return "", fmt.Errorf("ensure stream %q for %q: %w", name, topic, err)
	}
	p.done.Store(topic, struct{}{})
	return name, nil
}

// provisioningPublisher ensures the topic's stream before publishing, as a
// deployment would have done before the service starts.
type provisioningPublisher struct {
	*messaging.Publisher
	prov *provisioner
}

func (p provisioningPublisher) Publish(topic string, msgs ...*message.Message) error {
	if _, err := p.prov.ensure(topic); err != nil {
		return err
	}
	return p.Publisher.Publish(topic, msgs...)
}

// env is one embedded server with a provisioned stream for topic.
type env struct {
	ns     *server.Server
	admin  jetstream.JetStream
	topic  string
	stream string
}

func newEnv(t *testing.T, topic string) *env {
	t.Helper()
	return newEnvIn(t, t.TempDir(), topic)
}

// newEnvIn is newEnv with the server's files in dir, so that a test can
// restart the server on the same data.
func newEnvIn(t *testing.T, dir, topic string) *env {
	t.Helper()
	ns := startServer(t, dir)
	_, admin := connect(t, ns)
	prov := &provisioner{js: admin}
	stream, err := prov.ensure(topic)
	if err != nil {
		t.Fatal(err)
	}
	return &env{ns: ns, admin: admin, topic: topic, stream: stream}
}

// publisher returns a Publisher on a connection of its own.
func (e *env) publisher(t *testing.T) *messaging.Publisher {
	t.Helper()
	_, js := connect(t, e.ns)
	pub, err := messaging.NewPublisher(js, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	return pub
}

// subscriber returns a Subscriber on a connection of its own, reading env's
// stream through durable. cfg.Resolve is filled in.
func (e *env) subscriber(t *testing.T, durable string, cfg messaging.SubscriberConfig) *messaging.Subscriber {
	t.Helper()
	_, js := connect(t, e.ns)
	cfg.Resolve = func(string) (string, string, error) { return e.stream, durable, nil }
	sub, err := messaging.NewSubscriber(js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// streamMsgs returns how many messages env's stream holds.
func (e *env) streamMsgs(t *testing.T) uint64 {
	t.Helper()
	s, err := e.admin.Stream(context.Background(), e.stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// receive waits for the next message or fails the test.
func receive(t *testing.T, ch <-chan *message.Message, timeout time.Duration) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-ch:
		if !ok {
			t.Fatal("messages channel closed")
		}
		return msg
	case <-time.After(timeout):
		t.Fatalf("no message within %s", timeout)
	}
	return nil
}

// expectNothing fails if a message arrives within d.
func expectNothing(t *testing.T, ch <-chan *message.Message, d time.Duration) {
	t.Helper()
	select {
	case msg, ok := <-ch:
		if ok {
			t.Fatalf("unexpected message %s (payload %q)", msg.UUID, msg.Payload)
		}
	case <-time.After(d):
	}
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
