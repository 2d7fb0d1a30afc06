package events

// Delivery says where a unit of work came from: the consumer that received it, the message's
// id (the key of that consumer's inbox row) and the correlation id that the work's effects
// carry. A Delivery without a MessageID is work no message carried (a sweep, an operator
// command): it writes no inbox row. Trace is the trace context the message brought: the
// store stores the context of the step's own span with the events it records when there is
// one (telemetry.TraceOf), and this one otherwise, so a trace passes through a process that
// does not export.
type Delivery struct {
	Consumer      string
	MessageID     string
	CorrelationID string
	Trace         Trace
}

// Delivered returns the delivery of env to consumer.
func Delivered(consumer string, env Envelope) Delivery {
	return Delivery{Consumer: consumer, MessageID: env.ID, CorrelationID: env.CorrelationID, Trace: env.Trace}
}

// Unsolicited returns the delivery of work that no message carried, correlated by origin
// ("sweeper", "operator").
func Unsolicited(origin string) Delivery { return Delivery{CorrelationID: origin} }

// Inbox reports whether the work must record its message in the consumer's inbox.
func (d Delivery) Inbox() bool { return d.MessageID != "" }
