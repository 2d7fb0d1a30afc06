package events

// Delivery says where a unit of work came from: the consumer that received it, the message's
// id (the key of that consumer's inbox row) and the correlation id that the work's effects
// carry. A Delivery without a MessageID is work no message carried (a sweep, an operator
// command): it writes no inbox row. The trace context of the work will ride here too.
type Delivery struct {
	Consumer      string
	MessageID     string
	CorrelationID string
}

// Delivered returns the delivery of env to consumer.
func Delivered(consumer string, env Envelope) Delivery {
	return Delivery{Consumer: consumer, MessageID: env.ID, CorrelationID: env.CorrelationID}
}

// Unsolicited returns the delivery of work that no message carried, correlated by origin
// ("sweeper", "operator").
func Unsolicited(origin string) Delivery { return Delivery{CorrelationID: origin} }

// Inbox reports whether the work must record its message in the consumer's inbox.
func (d Delivery) Inbox() bool { return d.MessageID != "" }
