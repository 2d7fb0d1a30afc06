package messaging

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// retryPause, doubling up to maxRetryPause, spaces out retries after pull
// errors, so that an error that lasts cannot turn into a busy loop.
const (
	retryPause    = 100 * time.Millisecond
	maxRetryPause = 5 * time.Second
)

// flushTimeout bounds the final flush of a stopping subscription.
const flushTimeout = 5 * time.Second

// subscription is one Subscribe call: a fetcher goroutine pulls messages and
// feeds cfg.Concurrency workers, each of which hands out one message at a time
// and waits for its Ack or Nack.
type subscription struct {
	cfg    SubscriberConfig
	logger watermill.LoggerAdapter
	stream string
	// ctx governs pulling and handing out: it is cancelled by the caller's
	// ctx, by Close, or by run once fetching has stopped for any reason.
	ctx     context.Context
	release func() // cancels ctx; idempotent
	// msgBase is the parent of message contexts: the caller's values without
	// its cancellation, so that stopping does not cut short handlers that
	// are already running.
	msgBase  context.Context
	conn     *nats.Conn // flushed when stopping, so that the last acks arrive
	consumer jetstream.Consumer
	out      chan *message.Message // closed exactly once, by run
	// abandoned is closed CloseTimeout after fetching stopped: messages
	// still unsettled then are given up to AckWait.
	abandoned chan struct{}
}

// run consumes until ctx ends or fetching stops for good, then gives the
// messages already handed out CloseTimeout to be settled, and only then
// closes the output channel.
func (s *subscription) run() {
	defer s.release()

	work := make(chan jetstream.Msg)
	var workers sync.WaitGroup
	for range s.cfg.Concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for jm := range work {
				s.handle(jm)
			}
		}()
	}

	s.fetch(work)
	// Nothing more is handed out from here on, whatever stopped fetching
	// (the ctx check in handle), and the wait for what is out is bounded.
	s.release()
	timer := time.AfterFunc(s.cfg.CloseTimeout, func() { close(s.abandoned) })
	workers.Wait()
	timer.Stop()
	s.flush()
	close(s.out)
	s.logger.Debug("Subscription stopped", nil)
}

// flush waits until the server has read the acks and naks sent so far. Acks
// are fire-and-forget, and the owner of the connection may close it as soon
// as Close returns, which would drop those still buffered.
func (s *subscription) flush() {
	if s.conn == nil || !s.conn.IsConnected() {
		return
	}
	if err := s.conn.FlushTimeout(flushTimeout); err != nil {
		s.logger.Error("Cannot flush acks; unconfirmed messages will be redelivered", err, nil)
	}
}

// fetch pulls messages into work until ctx ends or the consumer becomes
// unusable, then closes work. Messages fetched but not yet taken by a worker
// are abandoned unacked, and JetStream redelivers them after AckWait.
//
// It uses one Fetch request after another rather than Consumer.Messages:
// with a small PullMaxMessages, Messages in nats.go v1.55.0 can skip issuing
// the next pull request (its checkPending races with fetchInProgress) and
// then stalls until the missing-heartbeat timeout, 30 s by default. A Fetch
// is one self-contained request, so no accounting can go stale.
func (s *subscription) fetch(work chan<- jetstream.Msg) {
	defer close(work)

	// A small batch: fetched messages waiting for a busy worker are already
	// delivered, so their AckWait runs. Two per worker keeps the workers fed
	// across the round trip of the next request.
	batchSize := 2 * s.cfg.Concurrency
	failures := 0
	for {
		batch, err := s.consumer.Fetch(batchSize, jetstream.FetchContext(s.ctx))
		if err == nil {
			if !s.handOut(work, batch.Messages()) {
				return // the rest of the batch is abandoned
			}
			err = batch.Error()
		}
		if s.ctx.Err() != nil {
			return
		}
		if err == nil {
			failures = 0
			continue
		}
		if s.terminal(err) {
			// End the subscription so that the router notices, instead of
			// idling on a consumer that is gone.
			s.logger.Error("Cannot pull from JetStream any more; subscription ends", err, nil)
			return
		}
		// Missing heartbeats, a disconnect, ...: the next Fetch is a fresh
		// request. The growing pause keeps a lasting error from spinning.
		failures++
		pause := min(retryPause<<min(failures-1, 6), maxRetryPause)
		s.logger.Info("Pulling messages failed, retrying", watermill.LogFields{"error": err.Error(), "pause": pause.String()})
		select {
		case <-time.After(pause):
		case <-s.ctx.Done():
			return
		}
	}
}

// handOut gives each message of a batch to the next free worker, in order. Messages fetched
// ahead wait for one, and their AckWait runs meanwhile: every waiting message is kept
// (InProgress), so that a slow handler ahead of them does not get them redelivered behind the
// subscription's back. False: the subscription stopped first.
func (s *subscription) handOut(work chan<- jetstream.Msg, batch <-chan jetstream.Msg) bool {
	beat := time.NewTicker(max(s.cfg.AckWait/3, time.Millisecond))
	defer beat.Stop()
	var waiting []jetstream.Msg
	for batch != nil || len(waiting) > 0 {
		var next chan<- jetstream.Msg // nil (never ready) while nothing waits
		var head jetstream.Msg
		if len(waiting) > 0 {
			next, head = work, waiting[0]
		}
		select {
		case jm, ok := <-batch:
			if !ok {
				batch = nil
				continue
			}
			waiting = append(waiting, jm)
		case next <- head:
			waiting = waiting[1:]
		case <-s.ctx.Done():
			return false
		case <-beat.C:
			for _, jm := range waiting {
				if err := jm.InProgress(); err != nil {
					s.logger.Info("Cannot extend AckWait of a waiting message; it may be redelivered", watermill.LogFields{"error": err.Error()})
				}
			}
		}
	}
	return true
}

// terminal reports errors after which fetching again cannot work. "No
// responders" is ambiguous (a clustered consumer between leaders, or no
// consumer at all), so it asks the server whether the consumer still exists.
func (s *subscription) terminal(err error) bool {
	if errors.Is(err, nats.ErrNoResponders) {
		_, infoErr := s.consumer.Info(s.ctx)
		err = infoErr
	}
	return err != nil && (errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.Is(err, jetstream.ErrBadRequest) ||
		errors.Is(err, nats.ErrConnectionClosed))
}

// handle hands one message out and settles it with JetStream.
func (s *subscription) handle(jm jetstream.Msg) {
	// A message taken from the fetcher just as the subscription stopped is
	// not handed out: the subscriber is no longer expected to read.
	if s.ctx.Err() != nil {
		return
	}
	wm, d := toWatermill(jm, s.stream, s.logger)
	d.maxDeliver = s.cfg.MaxDeliver
	attempt := d.attempt
	msgCtx, cancel := context.WithCancel(context.WithValue(s.msgBase, deliveryKey{}, d))
	// Watermill expects a message context to end once the message is settled.
	defer cancel()
	wm.SetContext(msgCtx)
	fields := watermill.LogFields{"message_uuid": wm.UUID, "attempt": attempt}

	select {
	case s.out <- wm:
	case <-s.ctx.Done():
		return
	}

	// Once handed out, the message is waited for even if the subscription
	// stops: its handler is already running and its Ack or Nack must reach
	// JetStream. Only CloseTimeout after stopping is it abandoned. Meanwhile
	// JetStream hears that the message is being worked on, until MaxWork.
	heartbeat := time.NewTicker(max(s.cfg.AckWait/3, time.Millisecond))
	defer heartbeat.Stop()
	hungAt := time.Now().Add(s.cfg.MaxWork)
	for {
		select {
		case <-wm.Acked():
			s.ack(jm, fields)
			return
		case <-wm.Nacked():
			s.nak(jm, attempt, fields)
			return
		case <-s.abandoned:
			// An Ack racing with the timeout still counts.
			select {
			case <-wm.Acked():
				s.ack(jm, fields)
			case <-wm.Nacked():
				s.nak(jm, attempt, fields)
			default:
				s.logger.Info("Message not settled within CloseTimeout, abandoned until AckWait", fields)
			}
			return
		case now := <-heartbeat.C:
			s.inProgress(jm, now.Before(hungAt), fields)
		}
	}
}

// inProgress resets the message's AckWait while its handler works; once the handler is taken
// for hung (working is false) it lets AckWait run out, once, with a log line.
func (s *subscription) inProgress(jm jetstream.Msg, working bool, fields watermill.LogFields) {
	if !working {
		if fields["hung"] == nil {
			fields["hung"] = true
			s.logger.Error("Handler still running past MaxWork; the message will be redelivered", nil, fields)
		}
		return
	}
	if err := jm.InProgress(); err != nil {
		s.logger.Info("Cannot extend AckWait; the message may be redelivered while handled", watermill.LogFields{"message_uuid": fields["message_uuid"], "error": err.Error()})
	}
}

func (s *subscription) ack(jm jetstream.Msg, fields watermill.LogFields) {
	if err := jm.Ack(); err != nil {
		s.logger.Error("Cannot ack message; it will be redelivered", err, fields)
		return
	}
	s.logger.Trace("Message acked", fields)
}

// nak asks for a redelivery after the configured delay. A bare Nak redelivers
// at once and burns through MaxDeliver in milliseconds, so it is used only
// when the configured delay is zero.
func (s *subscription) nak(jm jetstream.Msg, attempt int, fields watermill.LogFields) {
	delay := s.cfg.nakDelay(attempt)
	var err error
	if delay == 0 {
		err = jm.Nak()
	} else {
		err = jm.NakWithDelay(delay)
	}
	if err != nil {
		s.logger.Error("Cannot nak message; it will be redelivered after AckWait", err, fields)
		return
	}
	s.logger.Trace("Message nacked", fields.Add(watermill.LogFields{"delay": delay.String()}))
}
