package webhook

import "time"

// Status is where a delivery stands.
type Status string

// Delivery statuses: pending until a 2xx answers it (delivered) or the schedule is exhausted
// (failed).
const (
	StatusPending   Status = "pending"
	StatusDelivered Status = "delivered"
	StatusFailed    Status = "failed"
)

// Attempt is one try at a delivery: when, how long, and what answered (an HTTP status, or the
// error when nothing did).
type Attempt struct {
	At         time.Time
	Duration   time.Duration
	HTTPStatus int
	Error      string
}

// Delivery is one event owed to one endpoint, as the delivery log shows it.
type Delivery struct {
	ID            string
	EndpointID    string
	OrderID       string
	Type          string
	Version       int
	Status        Status
	CreatedAt     time.Time
	NextAttemptAt *time.Time // pending only
	Attempts      []Attempt
}

// Due is a delivery claimed for sending: everything an attempt needs.
type Due struct {
	ID         string
	EndpointID string
	URL        string
	Payload    []byte
	Secrets    Secrets
	Tries      int // attempts since it was (re)requested, before this one
	Attempts   int // attempts in all, before this one
	// Trace is the W3C trace context (traceparent, tracestate) of the step that owed the
	// delivery: its attempts are spans of the order's trace. Empty when there was none.
	Trace map[string]string
}

// DisableAfter is how long an endpoint may fail every attempt before it is disabled: its
// deliveries then wait, unsent, until its storefront or an admin enables it again.
const DisableAfter = 72 * time.Hour

// Succeeded reports whether an HTTP status answers a delivery: any 2xx.
func Succeeded(status int) bool { return status >= 200 && status < 300 }

// DeliveryFilter selects a page of an endpoint's delivery log, newest first.
type DeliveryFilter struct {
	EndpointID string
	Status     Status // empty: any
	After      int64  // the cursor: the position of the last delivery of the page before (0: the start)
	Limit      int
}
