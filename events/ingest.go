package events

// Acceptance is one accepted POST /v1/orders as the ingest stores it: the claim on the
// storefront's Idempotency-Key, and how to build the command of the order that holds the key.
type Acceptance struct {
	Scope, Key string
	Claim      IdempotencyRecordV1
	// Command builds, for the record that holds the key, the order's PlaceOrder command and the
	// copy of it kept readable by order id (without its payment token). It is called with Claim
	// when the claim wins, and may be called with an earlier request's record on a replay.
	Command func(held IdempotencyRecordV1) (Envelope, PlaceOrderV1, error)
}
