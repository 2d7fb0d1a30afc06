package events

import "fmt"

// Consumer is one durable consumer: the subject it reads, the stream that holds it, and its
// frozen name.
type Consumer struct {
	Subject, Stream, Durable string
}

// Consumers lists every durable consumer of the application. It returns a new slice each time.
func Consumers() []Consumer {
	return []Consumer{
		{SubjectPlaceOrder, StreamCommands, ConsumerInventoryPlaceOrder},
		{EventSubject(NameStockReserved), StreamEvents, ConsumerPaymentStockReserved},
		{EventSubject(NamePaymentAuthorized), StreamEvents, ConsumerPaymentAuthorized},
		{SubjectCancelOrder, StreamCommands, ConsumerPaymentCancelOrder},
		{SubjectsEvents, StreamEvents, ConsumerReportingProjections},
		{SubjectsOrderEvents, StreamEvents, ConsumerNotifierWebhooks},
	}
}

// ResolveConsumer maps a subscribed subject to its stream and durable name, from Consumers.
// A subject no consumer reads is an error: subscribing to it is a wiring bug.
func ResolveConsumer(subject string) (stream, durable string, err error) {
	for _, c := range Consumers() {
		if c.Subject == subject {
			return c.Stream, c.Durable, nil
		}
	}
	return "", "", fmt.Errorf("no consumer is defined for subject %q", subject)
}
