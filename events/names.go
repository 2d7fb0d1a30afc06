// Package events holds the wire contracts: command and event payloads with versioned names
// and the only code that decodes them, the subjects and streams that carry them, the consumers
// that read them (Consumers) and the status each event sets (StatusChanges). Every name here
// is frozen once released: renaming a consumer re-consumes its stream, renaming a message
// strands the ones already stored.
package events

import "time"

// Message names. A new shape of payload gets a new version, never an edit.
const (
	NamePlaceOrder    = "order.place.v1"
	NameOrderPlaced   = "order.placed.v1"
	NameStockReserved = "stock.reserved.v1"
	NameOrderRejected = "order.rejected.v1"

	NameCancelOrder         = "order.cancel.v1"
	NamePaymentAuthorized   = "payment.authorized.v1"
	NameOrderConfirmed      = "order.confirmed.v1"
	NameOrderCancelled      = "order.cancelled.v1"
	NameOrderExpired        = "order.expired.v1"
	NameOrderRefunded       = "order.refunded.v1"
	NameOrderNeedsAttention = "order.needs_attention.v1"
	NameOrderResumed        = "order.resumed.v1"
)

// Streams and the subjects they hold.
const (
	StreamCommands    = "ORDERS_COMMANDS"
	StreamEvents      = "ORDERS_EVENTS"
	StreamDeadLetters = "ORDERS_DEAD_LETTERS"

	SubjectsCommands    = "cmd.>"
	SubjectsEvents      = "evt.>"
	SubjectsDeadLetters = "dlq.>"

	// SubjectPlaceOrder carries PlaceOrder commands from the ingest to the inventory worker.
	SubjectPlaceOrder = "cmd.order.place"
	// SubjectCancelOrder carries cancel requests from the API to the payment worker.
	SubjectCancelOrder = "cmd.order.cancel"
	// SubjectsOrderEvents is every event, as the notifier reads them. Every event name has
	// three tokens (<entity>.<what>.v<n>); the filter is spelled apart from SubjectsEvents
	// because a subject names one durable consumer (ResolveConsumer).
	SubjectsOrderEvents = "evt.*.*.*"
	// SubjectDeadLetters receives every message a handler gave up on, with its reason.
	SubjectDeadLetters = "dlq.orders"
	// SubjectClaimPrefix starts the subject of an Idempotency-Key's claim in the commands
	// stream (followed by a hash of storefront and key), and SubjectAcceptedPrefix that of an
	// accepted order's copy (followed by its id). The ingest stores both in one atomic batch
	// with the order's command; no consumer reads them (see broker.BatchIntake).
	SubjectClaimPrefix    = "cmd.claim."
	SubjectAcceptedPrefix = "cmd.accepted."
)

// Durable consumer names (also the watermill handler names).
const (
	ConsumerInventoryPlaceOrder  = "inventory-place-order"
	ConsumerPaymentStockReserved = "payment-stock-reserved"
	ConsumerPaymentCancelOrder   = "payment-cancel-order"
	ConsumerPaymentAuthorized    = "payment-capture"
	ConsumerReportingProjections = "reporting-projections"
	ConsumerNotifierWebhooks     = "notifier-webhooks"
)

// KV buckets.
const (
	// BucketIdempotency maps a storefront's Idempotency-Key to the order it created.
	BucketIdempotency = "orders_idempotency"
)

// EventSubject is the subject an event with the given name is published on.
func EventSubject(name string) string { return "evt." + name }

// Metadata keys every message carries (NATS headers). correlation_id is the key watermill's
// CorrelationID middleware reads and writes.
const (
	MetaName          = "name"
	MetaOrderID       = "order_id"
	MetaCorrelationID = "correlation_id"
	MetaOccurredAt    = "occurred_at"
)

// IdempotencyRecordV1 is the value stored in BucketIdempotency for an Idempotency-Key: the
// hash of the request that claimed it, and the order and time it was given.
type IdempotencyRecordV1 struct {
	RequestHash string    `json:"request_hash"`
	OrderID     string    `json:"order_id"`
	AcceptedAt  time.Time `json:"accepted_at"`
}
