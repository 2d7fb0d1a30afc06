package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/batching"
)

// BatchIntake is the ingest's group commit: the orders accepted together are stored in one
// atomic batch in the commands stream, one synced write for all of them. Each order is three
// messages:
//
//   - cmd.claim.<hash of storefront and key>: its Idempotency-Key's claim, published with
//     Nats-Expected-Last-Subject-Sequence 0, so it is stored only if no claim of that key is;
//   - cmd.order.place: the PlaceOrder command, as the intake consumes it;
//   - cmd.accepted.<order id>: the copy an order reads as pending before the intake has it.
//
// The claim and the copy carry a Nats-TTL of the key's lifetime (24 h); the command stays as
// long as the stream keeps commands. A batch is all or nothing. An order that is alone in its
// group (a light load) is stored without a batch, claim, command and copy one after the other
// (publishAlone), because on a single node an atomic batch costs a few milliseconds whatever
// its size. Either way the copy is stored last, so a replay that finds a claim without its
// copy stores the command and the copy again (complete) before it answers.
//
// A 202 waits for the ack: stored and, with sync_interval: always or a replicated stream,
// synced. There is no flush timer: a batch forms from the requests that arrived while the
// previous one was being stored (batching.Queue).
type BatchIntake struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	pub    *EnvelopePublisher
	ttl    string
	queue  *batching.Queue[*acceptance]
	sizes  func(int)
	legacy *legacyIntake
	// maxMsgs is the most messages a batch may hold: maxBatchMsgs, or less once the server
	// refused a batch as too large (its max_batch_size is lower).
	maxMsgs atomic.Int64
}

// BatchIntakeConfig configures a BatchIntake.
type BatchIntakeConfig struct {
	// TTL is how long a key and an order's pending copy are kept; default 24 hours. It must
	// match TopologyConfig.IdempotencyTTL.
	TTL time.Duration
	// MaxOrders bounds a batch; default 100 (300 messages: the server takes at most 1,000).
	MaxOrders int
	// Observe, when set, is told the number of orders of every batch sent.
	Observe func(orders int)
	// Legacy is the idempotency bucket the ingest used before atomic batches (KVIntake). When
	// it holds keys at start, each request looks its key up there too, for as long as those
	// keys live (TTL from start), so a retry of a request accepted before an upgrade is still
	// a replay. Nil: no such check.
	Legacy *KVIntake
}

// AtomicBatchMinVersion is the oldest nats-server whose atomic batches the ingest uses: 2.12
// brought them, and 2.15 (the version tested here) takes a Nats-Msg-Id in a batch.
const AtomicBatchMinVersion = "2.15.0"

const (
	defaultBatchOrders = 100
	msgsPerOrder       = 3
	// maxBatchMsgs is nats-server's default max_batch_size: a batch of more is refused.
	maxBatchMsgs = 1000
	// errCodeBatchTooLarge is JSAtomicPublishTooLargeBatchErrF: more messages than the
	// server's max_batch_size.
	errCodeBatchTooLarge jetstream.ErrorCode = 10199
	// batchDeadline bounds one batch's publish, ack included, and groupDeadline a whole group
	// (its batches, and the reads and resends a conflict needs). A caller waits for the outcome
	// of the group that holds its order, so this is also about what a try of the API waits at
	// most (its ingestAttempt is a second): a healthy server acks a batch in milliseconds.
	batchDeadline = time.Second
	groupDeadline = 1500 * time.Millisecond
)

// acceptance is one order of a batch.
type acceptance struct {
	claim     events.IdempotencyRecordV1
	claimSubj string
	msgs      []*nats.Msg // claim, command, pending copy
	held      events.IdempotencyRecordV1
	same      []*batching.Item[*acceptance] // later requests of the same key in the group
	// rest builds the command and the pending copy of the order held stands for, to finish an
	// order whose claim was stored alone, without them (see complete).
	rest func(held events.IdempotencyRecordV1) ([]*nats.Msg, error)
}

// NewBatchIntake returns the ingest over js, whose commands stream must allow atomic batches
// and message TTLs (EnsureTopology sets both on a server since AtomicBatchMinVersion). pub
// builds the commands' messages (trace context, timing).
func NewBatchIntake(ctx context.Context, js jetstream.JetStream, pub *EnvelopePublisher, cfg BatchIntakeConfig) (*BatchIntake, error) {
	if js == nil || pub == nil {
		return nil, errors.New("broker: NewBatchIntake needs a JetStream context and a publisher")
	}
	stream, err := js.Stream(ctx, events.StreamCommands)
	if err != nil {
		return nil, fmt.Errorf("broker: stream %s: %w", events.StreamCommands, err)
	}
	if c := stream.CachedInfo().Config; !c.AllowAtomicPublish || !c.AllowMsgTTL {
		return nil, fmt.Errorf("broker: stream %s does not allow atomic batches and message TTLs (nats-server %s or later sets them)", events.StreamCommands, AtomicBatchMinVersion)
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.MaxOrders <= 0 {
		cfg.MaxOrders = defaultBatchOrders
	}
	in := &BatchIntake{js: js, stream: stream, pub: pub, ttl: cfg.TTL.String(), sizes: cfg.Observe}
	in.maxMsgs.Store(maxBatchMsgs)
	in.queue = batching.New(1, cfg.MaxOrders, in.send)
	if cfg.Legacy != nil {
		if in.legacy, err = newLegacyIntake(ctx, cfg.Legacy, cfg.TTL); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// Accept stores the command of the order that holds a's key and returns the key's record: a's
// own claim, or an earlier request's (a replay, whose command was stored with its claim).
// When the held record's request hash differs from a.Claim's, the caller answers that the key
// was used for another request. Failures wrap fault.ErrUnavailable; a call that failed may be
// repeated with the same arguments.
func (in *BatchIntake) Accept(ctx context.Context, a events.Acceptance) (events.IdempotencyRecordV1, error) {
	if held, found, err := in.legacy.accept(ctx, a); found || err != nil {
		return held, err
	}
	defer in.pub.timed(time.Now())
	cmd, accepted, err := a.Command(a.Claim)
	if err != nil {
		return events.IdempotencyRecordV1{}, fmt.Errorf("build command of order %s: %w", a.Claim.OrderID, err)
	}
	acc, end, err := in.newAcceptance(ctx, a, cmd, accepted)
	if err != nil {
		return events.IdempotencyRecordV1{}, err
	}
	err = in.queue.Do(ctx, acc)
	end(err)
	if err != nil && ctx.Err() != nil && !errors.Is(err, fault.ErrUnavailable) {
		err = fmt.Errorf("%w: %w", fault.ErrUnavailable, err) // gave up while queued
	}
	if err != nil {
		return events.IdempotencyRecordV1{}, fmt.Errorf("store order %s: %w", a.Claim.OrderID, err)
	}
	return acc.held, nil
}

// newAcceptance builds the three messages of a's order.
func (in *BatchIntake) newAcceptance(ctx context.Context, a events.Acceptance, cmd events.Envelope, accepted events.PlaceOrderV1) (*acceptance, func(error), error) {
	claim, err := json.Marshal(a.Claim)
	if err != nil {
		return nil, nil, fmt.Errorf("encode idempotency record: %w", err)
	}
	copyMsg, err := in.copyMsg(accepted)
	if err != nil {
		return nil, nil, err
	}
	acc := &acceptance{claim: a.Claim, claimSubj: events.SubjectClaimPrefix + bucketKey(a.Scope, a.Key)}
	claimMsg := nats.NewMsg(acc.claimSubj)
	claimMsg.Data = claim
	claimMsg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	claimMsg.Header.Set(jetstream.MsgTTLHeader, in.ttl)
	cmdMsgs, end := in.pub.messages(ctx, []events.Envelope{cmd})
	acc.msgs = []*nats.Msg{claimMsg, cmdMsgs[0], copyMsg}
	acc.rest = func(held events.IdempotencyRecordV1) ([]*nats.Msg, error) {
		cmd, accepted, err := a.Command(held)
		if err != nil {
			return nil, fmt.Errorf("build command of order %s: %w", held.OrderID, err)
		}
		copyMsg, err := in.copyMsg(accepted)
		return []*nats.Msg{envelopeMsg(cmd), copyMsg}, err
	}
	return acc, end, nil
}

// copyMsg is the pending copy of accepted, kept as long as its key.
func (in *BatchIntake) copyMsg(accepted events.PlaceOrderV1) (*nats.Msg, error) {
	accepted.PaymentToken = "" // a read never needs it; the command carries it
	data, err := json.Marshal(accepted)
	if err != nil {
		return nil, fmt.Errorf("encode accepted order %s: %w", accepted.OrderID, err)
	}
	m := nats.NewMsg(events.SubjectAcceptedPrefix + accepted.OrderID)
	m.Data = data
	m.Header.Set(jetstream.MsgTTLHeader, in.ttl)
	return m, nil
}

// send stores group (batching.Queue's run function). Requests of one key in the group (a
// client retrying while its first try waits) are not sent twice: the first one's outcome is
// theirs. The group, its batches and the reads they need, has one deadline: an order still
// unstored by then gets fault.ErrUnavailable, and its caller tries again or answers 503.
func (in *BatchIntake) send(group []*batching.Item[*acceptance]) {
	first := make(map[string]*acceptance, len(group))
	leaders := group[:0:0]
	for _, it := range group {
		if l, ok := first[it.Value.claimSubj]; ok {
			l.same = append(l.same, it)
			continue
		}
		first[it.Value.claimSubj] = it.Value
		leaders = append(leaders, it)
	}
	ctx, cancel := context.WithTimeout(context.Background(), groupDeadline)
	defer cancel()
	for len(leaders) > 0 {
		n := min(len(leaders), max(1, int(in.maxMsgs.Load())/msgsPerOrder))
		in.publish(ctx, leaders[:n])
		leaders = leaders[n:]
	}
}

// publish stores group in one atomic batch (one order: publishAlone). A batch rejected for a
// key claimed already reads the claims of its keys: the orders whose key is held are answered
// with the record that holds it, and the others are sent again as one batch. A conflict no
// read explains (a claim that expired, or one being written by another process's batch)
// splits the batch in halves. A batch larger than the server takes (its max_batch_size) is
// split in halves, and later batches keep under that size.
func (in *BatchIntake) publish(ctx context.Context, group []*batching.Item[*acceptance]) {
	if ctx.Err() != nil {
		finishAll(group, fmt.Errorf("%w: the batch ran out of time before it was stored", fault.ErrUnavailable))
		return
	}
	if in.sizes != nil {
		in.sizes(len(group))
	}
	if len(group) == 1 {
		in.publishAlone(ctx, group[0])
		return
	}
	msgs := make([]*nats.Msg, 0, msgsPerOrder*len(group))
	for _, it := range group {
		msgs = append(msgs, it.Value.msgs...)
	}
	pctx, cancel := context.WithTimeout(ctx, batchDeadline)
	_, err := publishBatch(pctx, in.js, msgs)
	cancel()
	switch {
	case err == nil:
		for _, it := range group {
			finish(it, it.Value.claim, nil)
		}
	case errorCode(err) == errCodeBatchTooLarge && len(group) > 1:
		in.maxMsgs.Store(min(in.maxMsgs.Load(), int64(len(msgs)/2)))
		in.halves(ctx, group)
	case !claimedAlready(err):
		finishAll(group, fmt.Errorf("%w: store a batch of %d orders: %w", fault.ErrUnavailable, len(group), err))
	default:
		rest := in.answerReplays(ctx, group)
		switch {
		case len(rest) == 0:
		case len(rest) < len(group):
			in.publish(ctx, rest)
		case len(rest) > 1:
			in.halves(ctx, rest)
		default:
			in.publishAlone(ctx, rest[0])
		}
	}
}

// publishAlone stores one order without an atomic batch: its claim, then its command, then
// its pending copy, each synced and acknowledged before the next is sent. On a single node
// nats-server stages every atomic batch in a file store of its own, a few milliseconds
// whatever its size; three plain publishes take about a millisecond, which is what an order
// arriving alone (a light load) should wait. A crash or failure after the claim leaves a
// claim without its command: the caller gets an error and tries again, and that try (or any
// replay) finds the claim and stores what is missing (complete).
func (in *BatchIntake) publishAlone(ctx context.Context, it *batching.Item[*acceptance]) {
	acc := it.Value
	pctx, cancel := context.WithTimeout(ctx, batchDeadline)
	defer cancel()
	for _, m := range acc.msgs { // an order split out of a batch still carries its headers
		m.Header.Del(jetstreamext.BatchIDHeader)
		m.Header.Del(jetstreamext.BatchSeqHeader)
		m.Header.Del(jetstreamext.BatchCommitHeader)
	}
	_, err := in.js.PublishMsg(pctx, acc.msgs[0])
	if claimedAlready(err) {
		held, found, err := in.readClaim(pctx, acc.claimSubj)
		if err == nil && !found {
			err = fmt.Errorf("%w: idempotency key claimed by another batch, not readable yet", fault.ErrUnavailable)
		}
		if err == nil {
			err = in.complete(pctx, acc, held)
		}
		finish(it, held, err)
		return
	}
	if err == nil {
		err = in.storeInTurn(pctx, acc.msgs[1:])
	}
	if err != nil {
		err = fmt.Errorf("%w: store order %s alone: %w", fault.ErrUnavailable, acc.claim.OrderID, err)
	}
	finish(it, acc.claim, err)
}

// storeInTurn publishes msgs one after the other, each once the previous one is stored.
func (in *BatchIntake) storeInTurn(ctx context.Context, msgs []*nats.Msg) error {
	for _, m := range msgs {
		if _, err := in.js.PublishMsg(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// complete makes sure the command of the order held stands for is stored, when acc is a
// replay of it: an order stored alone may have its claim without the rest (publishAlone). Its
// pending copy, stored last, says the command is; without it, the command (the same message
// id: JetStream's dedup and the intake's inbox keep one) and the copy are stored again. A
// replay with another body (a 422) stores nothing.
func (in *BatchIntake) complete(ctx context.Context, acc *acceptance, held events.IdempotencyRecordV1) error {
	if held.RequestHash != acc.claim.RequestHash {
		return nil
	}
	if _, found, err := in.readCopy(ctx, held.OrderID); err != nil || found {
		return err
	}
	msgs, err := acc.rest(held)
	if err == nil {
		err = in.storeInTurn(ctx, msgs)
	}
	if err != nil {
		return fmt.Errorf("%w: finish order %s: %w", fault.ErrUnavailable, held.OrderID, err)
	}
	return nil
}

func (in *BatchIntake) halves(ctx context.Context, group []*batching.Item[*acceptance]) {
	half := len(group) / 2
	in.publish(ctx, group[:half])
	in.publish(ctx, group[half:])
}

func finishAll(group []*batching.Item[*acceptance], err error) {
	for _, it := range group {
		finish(it, events.IdempotencyRecordV1{}, err)
	}
}

// answerReplays reads the claims of group's keys (concurrently: reads, no sync) and finishes
// the orders whose key is held, or whose claim cannot be read; it returns the others.
func (in *BatchIntake) answerReplays(ctx context.Context, group []*batching.Item[*acceptance]) []*batching.Item[*acceptance] {
	type claimRead struct {
		held  events.IdempotencyRecordV1
		found bool
		err   error
	}
	reads := make([]claimRead, len(group))
	var wg sync.WaitGroup
	for i, it := range group {
		wg.Go(func() {
			reads[i].held, reads[i].found, reads[i].err = in.readClaim(ctx, it.Value.claimSubj)
		})
	}
	wg.Wait()
	var rest []*batching.Item[*acceptance]
	for i, it := range group {
		switch r := reads[i]; {
		case r.err != nil:
			finish(it, events.IdempotencyRecordV1{}, r.err)
		case r.found:
			finish(it, r.held, in.complete(ctx, it.Value, r.held))
		default:
			rest = append(rest, it)
		}
	}
	return rest
}

// publishBatch stores msgs in one atomic batch. No flow control: the batch's messages follow
// each other on one connection, and only the commit waits (one round trip per batch).
func publishBatch(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg) (*jetstreamext.BatchAck, error) {
	return jetstreamext.PublishMsgBatch(ctx, js, msgs, jetstreamext.BatchFlowControl{AckFirst: false})
}

// finish ends it, and the requests of the same key that waited on it, with held and err.
func finish(it *batching.Item[*acceptance], held events.IdempotencyRecordV1, err error) {
	for _, same := range append(it.Value.same, it) {
		same.Value.held = held
		same.Done(err)
	}
}

// claimedAlready reports whether a batch was rejected because one of its claims found its key
// claimed (or, the same thing, one of its commands stored already).
func claimedAlready(err error) bool {
	switch errorCode(err) {
	case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant,
		jetstreamext.JSErrCodeBatchPublishDuplicateMsgID, errCodeDuplicateMessageConflict:
		return true
	}
	return false
}

// errorCode is the JetStream error code of err, or 0.
func errorCode(err error) jetstream.ErrorCode {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode
	}
	return 0
}

// readClaim reads the claim stored under subj; found is false when there is none.
func (in *BatchIntake) readClaim(ctx context.Context, subj string) (events.IdempotencyRecordV1, bool, error) {
	m, err := in.stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return events.IdempotencyRecordV1{}, false, nil
	}
	if err != nil {
		return events.IdempotencyRecordV1{}, false, fmt.Errorf("%w: read idempotency claim: %w", fault.ErrUnavailable, err)
	}
	var held events.IdempotencyRecordV1
	if err := json.Unmarshal(m.Data, &held); err != nil {
		return events.IdempotencyRecordV1{}, false, fmt.Errorf("decode idempotency claim %s: %w", subj, err)
	}
	return held, true, nil
}

// Accepted reads the pending copy of an accepted order (one JetStream round trip); found is
// false when there is none. Failures wrap fault.ErrUnavailable.
func (in *BatchIntake) Accepted(ctx context.Context, orderID string) (events.PlaceOrderV1, bool, error) {
	cmd, found, err := in.readCopy(ctx, orderID)
	if err != nil || found {
		return cmd, found, err
	}
	return in.legacy.accepted(ctx, orderID)
}

func (in *BatchIntake) readCopy(ctx context.Context, orderID string) (events.PlaceOrderV1, bool, error) {
	m, err := in.stream.GetLastMsgForSubject(ctx, events.SubjectAcceptedPrefix+orderID)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return events.PlaceOrderV1{}, false, nil
	}
	if err != nil {
		return events.PlaceOrderV1{}, false, fmt.Errorf("%w: read accepted order %s: %w", fault.ErrUnavailable, orderID, err)
	}
	var cmd events.PlaceOrderV1
	if err := json.Unmarshal(m.Data, &cmd); err != nil {
		return events.PlaceOrderV1{}, false, fmt.Errorf("decode accepted order %s: %w", orderID, err)
	}
	return cmd, true, nil
}

// legacyIntake answers, for as long as their keys live, for requests accepted before an
// upgrade to atomic batches: their claims and pending copies are in the idempotency bucket.
type legacyIntake struct {
	kv    *KVIntake
	until time.Time
	now   func() time.Time
}

// newLegacyIntake returns nil (no checks) when the bucket holds no key.
func newLegacyIntake(ctx context.Context, kv *KVIntake, ttl time.Duration) (*legacyIntake, error) {
	holds, err := kv.keys.holdsKeys(ctx)
	if err != nil || !holds {
		return nil, err
	}
	return &legacyIntake{kv: kv, until: time.Now().Add(ttl), now: time.Now}, nil
}

func (l *legacyIntake) active() bool { return l != nil && l.now().Before(l.until) }

// accept finishes a request whose key the bucket holds, as KVIntake would; found is false
// when the bucket does not hold it.
func (l *legacyIntake) accept(ctx context.Context, a events.Acceptance) (events.IdempotencyRecordV1, bool, error) {
	if !l.active() {
		return events.IdempotencyRecordV1{}, false, nil
	}
	held, found, err := l.kv.keys.Lookup(ctx, a.Scope, a.Key)
	if !found || err != nil || held.RequestHash != a.Claim.RequestHash {
		return held, found, err
	}
	return held, true, l.kv.store(ctx, a, held) // its command may not have been stored yet
}

func (l *legacyIntake) accepted(ctx context.Context, orderID string) (events.PlaceOrderV1, bool, error) {
	if !l.active() {
		return events.PlaceOrderV1{}, false, nil
	}
	return l.kv.Accepted(ctx, orderID)
}

// Intake is how the ingest stores accepted orders: a BatchIntake, or a KVIntake on an older
// server.
type Intake interface {
	Accept(ctx context.Context, a events.Acceptance) (events.IdempotencyRecordV1, error)
	Accepted(ctx context.Context, orderID string) (events.PlaceOrderV1, bool, error)
}

// NewIntake returns a BatchIntake when the commands stream allows atomic batches and message
// TTLs (batched true; EnsureTopology turns them on from nats-server AtomicBatchMinVersion),
// and a KVIntake otherwise. kv is the idempotency bucket; cfg.Legacy is set
// from it.
func NewIntake(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, pub *EnvelopePublisher, cfg BatchIntakeConfig) (in Intake, batched bool, err error) {
	keys, err := NewIdempotencyKeys(kv)
	if err != nil {
		return nil, false, err
	}
	legacy, err := NewKVIntake(keys, pub)
	if err != nil {
		return nil, false, err
	}
	if on, err := AtomicBatchesOn(ctx, js, events.StreamCommands); err != nil || !on {
		return legacy, false, err
	}
	cfg.Legacy = legacy
	batch, err := NewBatchIntake(ctx, js, pub, cfg)
	return batch, true, err
}

// supportsAtomicBatches reports whether the server js is connected to is AtomicBatchMinVersion
// or later.
func supportsAtomicBatches(js jetstream.JetStream) bool {
	return versionAtLeast(js.Conn().ConnectedServerVersion(), AtomicBatchMinVersion)
}

func versionAtLeast(have, want string) bool {
	h, w := versionParts(have), versionParts(want)
	for i := range h {
		if h[i] != w[i] {
			return h[i] > w[i]
		}
	}
	return true
}

// versionParts reads "2.15.2" (or "2.15.2-beta") as [2 15 2]; what it cannot read is 0.
func versionParts(v string) [3]int {
	var parts [3]int
	for i := range parts {
		end := 0
		for end < len(v) && v[end] >= '0' && v[end] <= '9' {
			end++
		}
		parts[i], _ = strconv.Atoi(v[:end])
		if end < len(v) && v[end] == '.' {
			end++
		}
		v = v[end:]
	}
	return parts
}
