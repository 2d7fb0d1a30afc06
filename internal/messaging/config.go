package messaging

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

// Defaults applied by NewSubscriber to zero-valued SubscriberConfig fields.
const (
	// DefaultAckWait is the default SubscriberConfig.AckWait.
	DefaultAckWait = 30 * time.Second
	// DefaultMaxDeliver is the default SubscriberConfig.MaxDeliver: unlimited.
	// The delivery budget belongs to the Router (RouterConfig.GiveUpAfter),
	// which can tell an outage from a bad message; JetStream cannot, and would
	// silently stop delivering a good message during a long outage.
	DefaultMaxDeliver = -1
	// DefaultMaxAckPending is the default SubscriberConfig.MaxAckPending.
	DefaultMaxAckPending = 1000
	// DefaultConcurrency is the default SubscriberConfig.Concurrency.
	DefaultConcurrency = 1
	// DefaultCloseTimeout is the default SubscriberConfig.CloseTimeout.
	DefaultCloseTimeout = 30 * time.Second
	// DefaultMaxWork is the default SubscriberConfig.MaxWork: well above a payment step's
	// worst case (two gateway calls of 20 s, each retried in process), well below forever.
	DefaultMaxWork = 10 * time.Minute
)

// DefaultNakDelays returns the back-off used after a Nack when
// SubscriberConfig.NakDelays is empty. It is a function, not a variable, so
// no caller can change the default for everyone.
func DefaultNakDelays() []time.Duration {
	return []time.Duration{1 * time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second}
}

// SubscriberConfig configures a Subscriber. Zero values take the defaults.
type SubscriberConfig struct {
	// Resolve maps a topic to the stream that holds it and the durable
	// consumer name to use. Required. The durable must be unique per
	// (stream, topic): Subscribe refuses a durable that already filters
	// another subject rather than silently re-pointing it.
	Resolve func(topic string) (stream, durable string, err error)

	// AckWait is how long JetStream waits for an ack before redelivering.
	// Default 30s. While a handler works on a message the subscription tells
	// JetStream so (InProgress, every AckWait/3), so a slow handler is not
	// redelivered behind its back; AckWait is then how soon a message whose
	// worker died is delivered again.
	AckWait time.Duration

	// MaxWork bounds how long a message's handler is waited for with
	// InProgress: past it the handler is taken for hung, the heartbeats stop
	// and JetStream redelivers the message after AckWait. Default 10m.
	MaxWork time.Duration

	// MaxDeliver is how many times JetStream delivers a message before giving
	// up on it, or -1 for no limit. Default -1: the Router dead-letters a
	// message that keeps failing (RouterConfig.GiveUpAfter) and retries an
	// outage (fault.ErrUnavailable) forever, which a limit would defeat,
	// because JetStream drops a message after its last delivery without
	// telling anyone. Handlers see it through Delivery.
	MaxDeliver int

	// MaxAckPending caps unacknowledged messages across every instance
	// sharing the durable consumer. Default 1000.
	MaxAckPending int

	// NakDelays is the back-off before redelivery after a Nack, indexed by
	// delivery attempt-1; the last value repeats, so it is also the pace at
	// which an outage is retried forever. Nil or empty means
	// DefaultNakDelays(); []time.Duration{0} means immediate redelivery.
	NakDelays []time.Duration

	// Concurrency is how many messages of one subscription are handed out at
	// once; each waits for its Ack or Nack. Default 1.
	Concurrency int

	// CloseTimeout bounds how long a subscription that is stopping (Close,
	// or its Subscribe context cancelled) waits for the messages it already
	// handed out to be acked or nacked. Default 30s. Only the messages still
	// unsettled after it are abandoned (redelivered after AckWait). Keep it
	// no longer than the Router's CloseTimeout and the process's shutdown
	// grace period.
	CloseTimeout time.Duration

	// Logger receives the adapter's logs. Nil discards them.
	Logger watermill.LoggerAdapter
}

// withDefaults returns a copy of c with zero values replaced by defaults.
// NakDelays is copied so later changes by the caller have no effect.
func (c SubscriberConfig) withDefaults() SubscriberConfig {
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	if len(c.NakDelays) == 0 {
		c.NakDelays = DefaultNakDelays()
	} else {
		c.NakDelays = slices.Clone(c.NakDelays)
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.MaxWork == 0 {
		c.MaxWork = DefaultMaxWork
	}
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
	return c
}

// validate reports every problem of a config that already has defaults.
func (c SubscriberConfig) validate() error {
	var errs []error
	if c.Resolve == nil {
		errs = append(errs, errors.New("missing Resolve"))
	}
	if c.AckWait < 0 {
		errs = append(errs, fmt.Errorf("negative AckWait %s", c.AckWait))
	}
	// -1 is JetStream's "no limit"; other negative values mean nothing.
	if c.MaxDeliver < -1 {
		errs = append(errs, fmt.Errorf("MaxDeliver %d: want -1 (no limit) or a positive count", c.MaxDeliver))
	}
	if c.MaxAckPending < 0 {
		errs = append(errs, fmt.Errorf("negative MaxAckPending %d", c.MaxAckPending))
	}
	for i, d := range c.NakDelays {
		if d < 0 {
			errs = append(errs, fmt.Errorf("negative NakDelays[%d] %s", i, d))
		}
	}
	if c.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("negative Concurrency %d", c.Concurrency))
	}
	if c.CloseTimeout < 0 {
		errs = append(errs, fmt.Errorf("negative CloseTimeout %s", c.CloseTimeout))
	}
	if c.MaxWork < 0 {
		errs = append(errs, fmt.Errorf("negative MaxWork %s", c.MaxWork))
	}
	return errors.Join(errs...)
}

// nakDelay returns the back-off after a Nack of the given delivery attempt.
func (c SubscriberConfig) nakDelay(attempt int) time.Duration {
	i := min(max(attempt-1, 0), len(c.NakDelays)-1)
	return c.NakDelays[i]
}
