package messaging

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsHeaderPrefix marks headers that belong to NATS and JetStream
// (Nats-Msg-Id, Nats-Expected-Stream, ...). They are protocol, not metadata.
const natsHeaderPrefix = "Nats-"

// toNatsMsg converts a watermill message to a NATS message on subject topic.
//
// Metadata keys become headers with their exact case: NATS headers are
// case-sensitive, and Header.Set would canonicalise "traceparent" into
// "Traceparent". Nats-Msg-Id is always the message UUID, even if metadata
// carries another value, because deduplication depends on it.
func toNatsMsg(topic string, wm *message.Message) (*nats.Msg, error) {
	if wm == nil {
		return nil, errors.New("message is nil")
	}
	if wm.UUID == "" {
		return nil, errors.New("message has an empty UUID, which JetStream cannot deduplicate")
	}
	header := make(nats.Header, len(wm.Metadata)+1)
	for k, v := range wm.Metadata {
		// nats.go rejects the whole message for one bad key with a generic
		// error; naming the key here saves a debugging session.
		if !validHeaderKey(k) {
			return nil, fmt.Errorf("message %s: metadata key %q is not a valid NATS header name", wm.UUID, k)
		}
		header[k] = []string{v}
	}
	header[jetstream.MsgIDHeader] = []string{wm.UUID}
	return &nats.Msg{Subject: topic, Data: wm.Payload, Header: header}, nil
}

// validHeaderKey mirrors nats.go's rule (ADR-4): printable ASCII without
// spaces and without the characters "()/,:;<=>?@[\]{}.
func validHeaderKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c < 33 || c > 126 || strings.IndexByte(`"()/,:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// toWatermill converts a delivered JetStream message into a watermill message
// and reports which delivery it is. It never fails: a message without
// Nats-Msg-Id or with a payload nobody can decode is still delivered, and the
// handler decides what to do with it.
func toWatermill(jm jetstream.Msg, stream string, logger watermill.LoggerAdapter) (*message.Message, delivery) {
	attempt := 1
	var seq uint64
	md, err := jm.Metadata()
	if err != nil {
		// Only possible for a reply subject that is not a JetStream ack
		// subject, which a pull consumer does not produce.
		logger.Error("Cannot read JetStream metadata", err, watermill.LogFields{"subject": jm.Subject()})
	} else {
		if md.NumDelivered > 0 {
			attempt = int(md.NumDelivered)
		}
		seq = md.Sequence.Stream
		if md.Stream != "" {
			stream = md.Stream
		}
	}

	headers := jm.Headers()
	id := headers.Get(jetstream.MsgIDHeader)
	if id == "" {
		if seq > 0 {
			// Stable across redeliveries, unlike a random UUID.
			id = fmt.Sprintf("%s-%d", stream, seq)
		} else {
			id = watermill.NewUUID()
		}
	}

	metadata := make(message.Metadata, len(headers))
	for k, vs := range headers {
		if strings.HasPrefix(k, natsHeaderPrefix) || len(vs) == 0 {
			continue
		}
		// Metadata holds one value per key; the publisher writes one.
		metadata[k] = vs[0]
	}

	wm := message.NewMessage(id, jm.Data())
	wm.Metadata = metadata
	return wm, delivery{attempt: attempt, stream: stream, seq: seq}
}
