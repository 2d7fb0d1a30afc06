package events

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ErrMalformed marks a message that can never be processed: missing metadata, unknown name or
// an undecodable payload. Handlers dead-letter it instead of retrying.
var ErrMalformed = errors.New("events: malformed message")

// Envelope is one message as it travels: a unique id (also the Nats-Msg-Id), a versioned name,
// the order it concerns, a correlation id, the time, and the JSON payload.
type Envelope struct {
	ID            string
	Subject       string
	Name          string
	OrderID       string
	CorrelationID string
	OccurredAt    time.Time
	Payload       []byte
	// Version is the order version an event produced (0 for commands); it travels in the
	// payload, and is kept here for the event store.
	Version int
	// Trace is the trace context the message continues (see Trace); it travels as headers.
	Trace Trace
}

// Metadata returns the envelope's fields as message headers.
func (e Envelope) Metadata() map[string]string {
	m := map[string]string{
		MetaName:          e.Name,
		MetaOrderID:       e.OrderID,
		MetaCorrelationID: e.CorrelationID,
		MetaOccurredAt:    e.OccurredAt.UTC().Format(time.RFC3339Nano),
	}
	for _, k := range traceKeys {
		if v := e.Trace[k]; v != "" {
			m[k] = v
		}
	}
	return m
}

// ParseEnvelope rebuilds an envelope from a received message's id, headers and payload; the
// trace headers, optional, become its Trace.
// It returns an error wrapping ErrMalformed when a required field is missing or unreadable.
func ParseEnvelope(id string, meta map[string]string, payload []byte) (Envelope, error) {
	e := Envelope{
		ID: id, Name: meta[MetaName], OrderID: meta[MetaOrderID],
		CorrelationID: meta[MetaCorrelationID], Payload: payload, Trace: traceFrom(meta),
	}
	var errs []error
	if e.Name == "" {
		errs = append(errs, errors.New("missing "+MetaName))
	}
	if !ValidID(e.OrderID) {
		errs = append(errs, fmt.Errorf("%s %q is not a uuid", MetaOrderID, e.OrderID))
	}
	at, err := time.Parse(time.RFC3339Nano, meta[MetaOccurredAt])
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", MetaOccurredAt, err))
	}
	e.OccurredAt = at
	if len(errs) > 0 {
		return Envelope{}, fmt.Errorf("%w: %w", ErrMalformed, errors.Join(errs...))
	}
	return e, nil
}

// ValidID reports whether s is a UUID in its canonical 36-character form, the only form ids
// take on the wire and in URLs (uuid.Parse alone also accepts urn:uuid: and braces, which
// PostgreSQL and MessageID would treat as other ids).
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// MessageID derives a message's id from the order and the message name (and version for
// events), so producing the same message again yields the same id and JetStream's
// Nats-Msg-Id dedup and the consumers' inbox both recognise it.
func MessageID(orderID, name string, version int) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "orders:%s/%s/%d", orderID, name, version)).String()
}
