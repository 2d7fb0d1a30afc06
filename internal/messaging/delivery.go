package messaging

import "context"

// deliveryKey is the context key under which a delivery is stored. A struct
// type keeps the key private to this package without a global variable.
type deliveryKey struct{}

// delivery describes one JetStream delivery of a message: which attempt, under which
// MaxDeliver, of which stored message (stream and sequence; the message id alone does not
// say, since a redriven message is stored again under the same id).
type delivery struct {
	attempt    int
	maxDeliver int
	stream     string
	seq        uint64
}

// withDelivery returns ctx carrying the delivery attempt and MaxDeliver.
func withDelivery(ctx context.Context, attempt, maxDeliver int) context.Context {
	return context.WithValue(ctx, deliveryKey{}, delivery{attempt: attempt, maxDeliver: maxDeliver})
}

// deliveryOf returns the delivery ctx carries, if any.
func deliveryOf(ctx context.Context) (delivery, bool) {
	if ctx == nil {
		return delivery{}, false
	}
	d, ok := ctx.Value(deliveryKey{}).(delivery)
	return d, ok
}

// Delivery reports the JetStream delivery attempt (1-based) of the message
// being handled and the consumer's MaxDeliver, which is -1 when deliveries
// are unlimited (the default). ok is false when ctx did not come from a
// message delivered by a Subscriber.
//
// Whether a failure on this attempt should be given up on is FinalAttempt's
// question, not attempt >= maxDeliver: with unlimited deliveries the budget
// is RouterConfig.GiveUpAfter.
func Delivery(ctx context.Context) (attempt, maxDeliver int, ok bool) {
	d, ok := deliveryOf(ctx)
	if !ok {
		return 0, 0, false
	}
	return d.attempt, d.maxDeliver, true
}
