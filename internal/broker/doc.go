// Package broker is this application's topology and wiring on NATS JetStream: the streams
// and the idempotency bucket it creates at start (EnsureTopology), the Idempotency-Key store,
// the publisher of its envelopes, the operator's view of the dead-letter stream (list,
// redrive), and the collector of stream depth and consumer lag for /metrics.
//
// The generic Watermill adapter it builds on (publisher, subscriber, router middlewares)
// is internal/messaging, which knows nothing of these names.
package broker
