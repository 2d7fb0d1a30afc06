package messaging

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
)

// Subscriber consumes JetStream messages through durable pull consumers and
// hands them out as watermill messages.
type Subscriber struct {
	js     jetstream.JetStream
	cfg    SubscriberConfig
	logger watermill.LoggerAdapter

	// closing is cancelled by Close; every subscription watches it.
	closing  context.Context
	closeAll context.CancelFunc
	mu       sync.Mutex // guards closed and wg.Add against Close
	closed   bool
	wg       sync.WaitGroup
}

// NewSubscriber returns a Subscriber reading through js. It validates cfg and
// reports every problem at once. The caller owns the connection behind js.
func NewSubscriber(js jetstream.JetStream, cfg SubscriberConfig) (*Subscriber, error) {
	cfg = cfg.withDefaults()
	err := cfg.validate()
	if js == nil {
		err = errors.Join(errors.New("JetStream is nil"), err)
	}
	if err != nil {
		return nil, fmt.Errorf("messaging: new subscriber: %w", err)
	}
	closing, closeAll := context.WithCancel(context.Background())
	return &Subscriber{js: js, cfg: cfg, logger: cfg.Logger, closing: closing, closeAll: closeAll}, nil
}

// Subscribe binds to the durable consumer that Resolve names for topic,
// creating or updating it, and returns a channel of its messages. The channel
// is closed when ctx is cancelled, when Close is called, or when the server
// ends the consumption (consumer deleted, connection closed).
//
// Each message must be acked or nacked; a Nack redelivers after the
// configured NakDelays. Message contexts carry ctx's values and the delivery
// attempt (see Delivery), but not ctx's cancellation: they are cancelled once
// the message is acked, nacked or abandoned.
//
// When ctx is cancelled or Close is called, pulling stops at once and
// messages not yet handed out are abandoned; messages already handed out get
// up to CloseTimeout to be acked or nacked, and are settled with JetStream as
// usual. Only then is the channel closed. A router that is shutting down thus
// finishes the handlers it started instead of leaving their messages to
// AckWait.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("messaging: subscribe to %q: subscriber is closed", topic)
	}
	s.wg.Add(1)
	s.mu.Unlock()

	sub, err := s.start(ctx, topic)
	if err != nil {
		s.wg.Done()
		return nil, fmt.Errorf("messaging: subscribe to %q: %w", topic, err)
	}
	go func() {
		defer s.wg.Done()
		sub.run()
	}()
	return sub.out, nil
}

// start resolves and binds the durable consumer.
func (s *Subscriber) start(ctx context.Context, topic string) (*subscription, error) {
	stream, durable, err := s.cfg.Resolve(topic)
	if err != nil {
		return nil, fmt.Errorf("resolve stream and durable: %w", err)
	}
	if stream == "" || durable == "" {
		return nil, fmt.Errorf("resolve returned stream %q and durable %q: both are required", stream, durable)
	}

	// Pulling stops on either the caller's ctx or Close.
	subCtx, cancel := context.WithCancel(ctx)
	stopWatch := context.AfterFunc(s.closing, cancel)
	release := func() {
		stopWatch()
		cancel()
	}

	consumer, err := s.bindConsumer(subCtx, stream, durable, topic)
	if err != nil {
		release()
		return nil, err
	}
	return &subscription{
		cfg:       s.cfg,
		logger:    s.logger.With(watermill.LogFields{"topic": topic, "stream": stream, "durable": durable}),
		stream:    stream,
		ctx:       subCtx,
		release:   release,
		msgBase:   context.WithoutCancel(ctx),
		conn:      s.js.Conn(),
		consumer:  consumer,
		out:       make(chan *message.Message),
		abandoned: make(chan struct{}),
	}, nil
}

// bindTimeout bounds how long a subscription keeps trying to look up or create its consumer
// while JetStream does not answer: a process starting while a cluster elects its leaders (a
// node just restarted) waits for them rather than exiting. A consumer that filters another
// subject is refused at once.
const bindTimeout = 30 * time.Second

// bindConsumer is ensureConsumer, tried again for up to bindTimeout while JetStream fails.
func (s *Subscriber) bindConsumer(ctx context.Context, stream, durable, topic string) (jetstream.Consumer, error) {
	deadline := time.Now().Add(bindTimeout)
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 4*time.Second) {
		consumer, err := s.ensureConsumer(ctx, stream, durable, topic)
		if err == nil || errors.Is(err, errConsumerConflict) || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return consumer, err
		}
		s.logger.Info("JetStream did not answer for a consumer; trying again", watermill.LogFields{
			"stream": stream, "durable": durable, "retry_in": wait.String(), "err": err.Error()})
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

// errConsumerConflict is a durable consumer that filters another subject than the topic.
var errConsumerConflict = errors.New("the durable consumer filters another subject")

// ensureConsumer creates or updates the durable consumer. It refuses a
// durable that already filters another subject: CreateOrUpdateConsumer would
// silently re-point it, and the instances reading the old subject would start
// receiving this topic's messages.
func (s *Subscriber) ensureConsumer(ctx context.Context, stream, durable, topic string) (jetstream.Consumer, error) {
	existing, err := s.js.Consumer(ctx, stream, durable)
	switch {
	case err == nil:
		cfg := existing.CachedInfo().Config
		if cfg.FilterSubject != topic || len(cfg.FilterSubjects) > 0 {
			return nil, fmt.Errorf("%w: durable consumer %q on stream %q already filters %q %v, not %q",
				errConsumerConflict, durable, stream, cfg.FilterSubject, cfg.FilterSubjects, topic)
		}
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		// Created below.
	default:
		return nil, fmt.Errorf("look up consumer %q on stream %q: %w", durable, stream, err)
	}

	consumer, err := s.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		// Durable, never just Name: the server deletes a named consumer
		// after it has been idle for a while, and then DeliverAll replays
		// the whole stream to whoever subscribes next.
		Durable:       durable,
		FilterSubject: topic,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    s.cfg.MaxDeliver,
		MaxAckPending: s.cfg.MaxAckPending,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update consumer %q on stream %q: %w", durable, stream, err)
	}
	return consumer, nil
}

// Close stops every subscription: pulling stops, messages already handed out
// get up to CloseTimeout to be acked or nacked (their acks reach JetStream as
// usual), then whatever is still unsettled is abandoned (JetStream redelivers
// it after AckWait) and the output channels are closed. It waits for all
// goroutines of the Subscriber. It never deletes a consumer and does not
// close the connection. Calling Close more than once is safe; Subscribe after
// Close returns an error.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()

	s.closeAll()
	s.wg.Wait()
	return nil
}
