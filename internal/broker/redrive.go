package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/messaging"
)

// DeadLetter is one message of the dead-letter stream, as an operator inspects it.
type DeadLetter struct {
	Seq     uint64
	ID      string
	Name    string
	OrderID string
	Topic   string // where it came from, and where a redrive sends it back
	Handler string
	Reason  string
	At      time.Time
}

// ErrRedriveTooSoon is returned when the original message is still inside JetStream's
// duplicate window, which would drop the redriven copy as a repeat.
var ErrRedriveTooSoon = errors.New("broker: the original is still inside the duplicate window; redrive later")

// ListDeadLetters returns up to limit dead letters, oldest first.
func ListDeadLetters(ctx context.Context, js jetstream.JetStream, limit int) ([]DeadLetter, error) {
	s, err := js.Stream(ctx, events.StreamDeadLetters)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}
	st := s.CachedInfo().State
	var out []DeadLetter
	for seq := st.FirstSeq; seq <= st.LastSeq && len(out) < limit && st.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted by an earlier redrive
		}
		if err != nil {
			return nil, fmt.Errorf("read dead letter %d: %w", seq, err)
		}
		out = append(out, DeadLetter{
			Seq: seq, ID: originalID(m), Name: m.Header.Get(events.MetaName),
			OrderID: m.Header.Get(events.MetaOrderID), Topic: m.Header.Get(middleware.PoisonedTopicKey),
			Handler: m.Header.Get(middleware.PoisonedHandlerKey), Reason: m.Header.Get(middleware.ReasonForPoisonedKey), At: m.Time,
		})
	}
	return out, nil
}

// originalID is the id of the message a dead letter holds. Entries written before each had an
// id of its own carry the message's id as their Nats-Msg-Id.
func originalID(m *jetstream.RawStreamMsg) string {
	return cmp.Or(m.Header.Get(messaging.MessageIDPoisonedKey), m.Header.Get(jetstream.MsgIDHeader))
}

// Redrive publishes dead letter seq back to the topic it came from, with its original headers
// and id (so a consumer that applied it after all still recognises it), and then deletes it
// from the dead-letter stream. A crash between the two leaves it in both: redriving it again
// is harmless for the same reason.
func Redrive(ctx context.Context, js jetstream.JetStream, seq uint64) error {
	s, err := js.Stream(ctx, events.StreamDeadLetters)
	if err != nil {
		return fmt.Errorf("dead-letter stream: %w", err)
	}
	m, err := s.GetMsg(ctx, seq)
	if err != nil {
		return fmt.Errorf("read dead letter %d: %w", seq, err)
	}
	topic := m.Header.Get(middleware.PoisonedTopicKey)
	if topic == "" || strings.HasPrefix(topic, "dlq.") {
		return fmt.Errorf("dead letter %d names no topic to send it back to", seq)
	}
	out := nats.NewMsg(topic)
	out.Data = m.Data
	for k, v := range m.Header {
		if !strings.HasSuffix(k, "_poisoned") {
			out.Header[k] = v
		}
	}
	out.Header.Set(jetstream.MsgIDHeader, originalID(m))
	pub, err := messaging.NewPublisher(js, nil)
	if err != nil {
		return err
	}
	acks, err := pub.PublishMsgs(ctx, out)
	if err != nil {
		return fmt.Errorf("redrive dead letter %d to %s: %w", seq, topic, err)
	}
	if acks[0].Duplicate {
		return fmt.Errorf("redrive dead letter %d: %w", seq, ErrRedriveTooSoon)
	}
	if err := s.DeleteMsg(ctx, seq); err != nil {
		return fmt.Errorf("redriven dead letter %d stays listed: %w", seq, err)
	}
	return nil
}
