// Package messaging adapts NATS JetStream (the nats.go jetstream API) to
// watermill's message.Publisher and message.Subscriber.
//
// It is generic: the publisher (the program's one JetStream publish path),
// the subscriber, and the router with its middlewares, one file each
// (deadletter.go, giveup.go). This application's streams, buckets, envelopes
// and dead-letter tooling live in internal/broker.
//
// The watermill topic is the NATS subject. Streams are not created here (the
// application creates its own at start, broker.EnsureTopology), so a typo in
// a topic fails loudly instead of silently creating a stream.
//
// Delivery is at least once. A message may be redelivered after a crash, after
// AckWait expires, or after Close abandons a message that its handler did not
// settle within CloseTimeout; consumers must be idempotent (the project
// deduplicates in PostgreSQL).
//
// Stopping (Close, or the Subscribe context cancelled) stops pulling first,
// then waits for the handlers already running to ack or nack: a router shut
// down by SIGTERM finishes its messages instead of abandoning them.
//
// Failures: JetStream redelivers without limit (MaxDeliver -1), spaced by
// NakDelays. The Router dead-letters a message whose error is permanent, or
// that has failed GiveUpAfter deliveries, but never for an error wrapping
// fault.ErrUnavailable: an outage is retried until it ends, and nothing is
// lost. A message is acked after being dead-lettered only if the dead-letter
// stream stored it; otherwise it is nacked and tried again.
//
// Consumers are durable pull consumers shared by every instance that uses the
// same durable name: that is how a fleet shares work and how consumer groups
// work. Nothing in this package deletes a consumer, so consumption resumes
// where it stopped after a restart.
package messaging
