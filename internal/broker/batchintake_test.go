package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/broker"
	"github.com/shopflow/orders/internal/testenv"
)

// acceptance is a request for key whose order, if it wins the key, is a new one.
func acceptance(key string) events.Acceptance {
	claim := events.IdempotencyRecordV1{RequestHash: "hash-" + key, OrderID: uuid.NewString(), AcceptedAt: time.Now().UTC().Truncate(time.Millisecond)}
	return events.Acceptance{Scope: "shop", Key: key, Claim: claim,
		Command: func(held events.IdempotencyRecordV1) (events.Envelope, events.PlaceOrderV1, error) {
			p := order.PlaceParams{ID: held.OrderID, Storefront: "shop", CustomerID: "c", Currency: "EUR",
				Lines: []order.Line{{SKU: "SKU-1", Quantity: 1, UnitPrice: 100}}, PaymentToken: "tok_visa", AcceptedAt: held.AcceptedAt}
			cmd, err := events.NewPlaceOrder(p, "corr")
			return cmd, events.PlaceOrderV1{OrderID: p.ID, Storefront: p.Storefront, AcceptedAt: p.AcceptedAt}, err
		}}
}

func newBatchIntake(t testing.TB, observe func(int)) (*broker.BatchIntake, jetstream.JetStream) {
	t.Helper()
	js := testenv.Connect(t, testenv.JetStream(t))
	return newBatchIntakeOn(t, js, observe), js
}

// busOf is what an intake over js is built from: the idempotency bucket and a publisher.
func busOf(t testing.TB, js jetstream.JetStream) (jetstream.KeyValue, *broker.EnvelopePublisher) {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), events.BucketIdempotency)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := broker.NewEnvelopePublisher(js)
	if err != nil {
		t.Fatal(err)
	}
	return kv, pub
}

// newBatchIntakeOn is the intake `orders api` builds over js, whose streams must exist.
func newBatchIntakeOn(t testing.TB, js jetstream.JetStream, observe func(int)) *broker.BatchIntake {
	t.Helper()
	kv, pub := busOf(t, js)
	in, batched, err := broker.NewIntake(context.Background(), js, kv, pub, broker.BatchIntakeConfig{Observe: observe})
	if err != nil || !batched {
		t.Fatalf("NewIntake: batched %v, %v", batched, err)
	}
	return in.(*broker.BatchIntake)
}

func placeCommands(t testing.TB, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), events.StreamCommands)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(events.SubjectPlaceOrder))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[events.SubjectPlaceOrder]
}

// A batch holding replays of keys stored by earlier batches is split until its new orders are
// stored, each once, and every replay gets the record that holds its key.
func TestBatchWithReplaysIsSplitAndEveryRequestAnswered(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sizes []int
	in, js := newBatchIntake(t, func(n int) { mu.Lock(); sizes = append(sizes, n); mu.Unlock() })
	ctx := context.Background()
	const stored = 10
	original := make([]events.IdempotencyRecordV1, stored)
	for i := range stored {
		a := acceptance(fmt.Sprintf("old-%d", i))
		held, err := in.Accept(ctx, a)
		if err != nil || held != a.Claim {
			t.Fatalf("first request of old-%d: held %+v, %v", i, held, err)
		}
		original[i] = held
	}

	release := make(chan struct{})
	in.HoldFirstBatch(release)
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = in.Accept(ctx, acceptance("blocker")) })
	for in.Queued() != 0 { // the blocker's batch holds the only slot
		time.Sleep(time.Millisecond)
	}
	replays := make([]events.IdempotencyRecordV1, stored)
	fresh := make([]events.Acceptance, stored)
	freshHeld := make([]events.IdempotencyRecordV1, stored)
	errs := make(chan error, 2*stored)
	for i := range stored {
		fresh[i] = acceptance(fmt.Sprintf("new-%d", i))
		wg.Go(func() {
			var err error
			replays[i], err = in.Accept(ctx, acceptance(fmt.Sprintf("old-%d", i)))
			errs <- err
		})
		wg.Go(func() {
			var err error
			freshHeld[i], err = in.Accept(ctx, fresh[i])
			errs <- err
		})
	}
	for in.Queued() != 2*stored {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Accept: %v", err)
		}
	}
	for i := range stored {
		if replays[i] != original[i] {
			t.Errorf("replay of old-%d held %+v, want the first request's %+v", i, replays[i], original[i])
		}
		if freshHeld[i] != fresh[i].Claim {
			t.Errorf("new-%d held %+v, want its own claim", i, freshHeld[i])
		}
		if cmd, found, err := in.Accepted(ctx, fresh[i].Claim.OrderID); err != nil || !found || cmd.OrderID != fresh[i].Claim.OrderID {
			t.Errorf("pending copy of new-%d: %+v %v %v", i, cmd, found, err)
		}
	}
	if got, want := placeCommands(t, js), uint64(2*stored+1); got != want {
		t.Errorf("%d PlaceOrder commands stored, want %d (each order once)", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if i := slices.Index(sizes, 2*stored); i < 0 || len(sizes) <= i+1 {
		t.Errorf("batch sizes %v: want a batch of %d, split after", sizes, 2*stored)
	}
	t.Logf("batch sizes: %v", sizes)
}

// After an upgrade, a key claimed in the idempotency bucket by the older ingest is still a
// replay, and an order accepted then still reads as pending.
func TestBatchIntakeAnswersForKeysOfTheBucket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	js := testenv.Connect(t, testenv.JetStream(t))
	kv, pub := busOf(t, js)
	keys, err := broker.NewIdempotencyKeys(kv)
	if err != nil {
		t.Fatal(err)
	}
	old, err := broker.NewKVIntake(keys, pub)
	if err != nil {
		t.Fatal(err)
	}
	before := acceptance("before-upgrade")
	if held, err := old.Accept(ctx, before); err != nil || held != before.Claim {
		t.Fatalf("older ingest: %+v, %v", held, err)
	}

	in := newBatchIntakeOn(t, js, nil)
	retry := acceptance("before-upgrade")
	if held, err := in.Accept(ctx, retry); err != nil || held != before.Claim {
		t.Errorf("retry after the upgrade held %+v (%v), want the older ingest's %+v", held, err, before.Claim)
	}
	if cmd, found, err := in.Accepted(ctx, before.Claim.OrderID); err != nil || !found {
		t.Errorf("order accepted before the upgrade: found %v, %v (%+v)", found, err, cmd)
	}
	if got := placeCommands(t, js); got != 1 {
		t.Errorf("%d PlaceOrder commands stored, want 1", got)
	}

	// The pending copy lives as long as the key.
	s, err := js.Stream(ctx, events.StreamCommands)
	if err != nil {
		t.Fatal(err)
	}
	fresh := acceptance("after-upgrade")
	if _, err := in.Accept(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, events.SubjectAcceptedPrefix+fresh.Claim.OrderID)
	if err != nil {
		t.Fatalf("pending copy: %v", err)
	}
	if ttl := m.Header.Get(jetstream.MsgTTLHeader); ttl != (24 * time.Hour).String() {
		t.Errorf("pending copy's Nats-TTL %q, want %q", ttl, (24 * time.Hour).String())
	}
}

// BenchmarkKeysKept accepts b.N orders (64 callers at a time) through an embedded nats-server
// and reports what the in-process server keeps for them: heap right after (its subject index,
// write cache and Nats-Msg-Id window), heap kept while the keys live (the subject index, once
// the window and the cache let go), and stream bytes per order (claim, command, pending copy).
// go test -run '^$' -bench KeysKept -benchtime 200000x ./internal/broker
func BenchmarkKeysKept(b *testing.B) {
	in, js := newBatchIntake(b, nil)
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if _, err := in.Accept(ctx, acceptance(fmt.Sprintf("bench-%d", i))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	s, err := js.Stream(ctx, events.StreamCommands)
	if err != nil {
		b.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(b.N), "heap-B/order")
	b.ReportMetric(float64(info.State.Bytes)/float64(b.N), "stream-B/order")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")

	// What stays for the keys' lifetime: once the Nats-Msg-Id window (shortened here to 1 s)
	// and the write cache have let go, the subject index of the claims and copies remains.
	cfg := info.Config
	cfg.Duplicates = time.Second
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	time.Sleep(15 * time.Second)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(b.N), "kept-heap-B/order")
}

// A server whose max_batch_size is below the intake's batches refuses them as too large: the
// intake splits them and keeps its later batches under that size, and every order is stored.
func TestBatchesKeepUnderTheServersMaxBatchSize(t *testing.T) {
	t.Parallel()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(), JetStreamLimits: server.JSLimitOpts{MaxBatchSize: 30}})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(srv.Shutdown)
	ctx := context.Background()
	js := testenv.Connect(t, srv.ClientURL())
	if err := broker.EnsureTopology(ctx, js, broker.TopologyConfig{}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sizes []int
	in := newBatchIntakeOn(t, js, func(n int) { mu.Lock(); sizes = append(sizes, n); mu.Unlock() })
	burst := func(name string, n int) {
		release := make(chan struct{})
		in.HoldFirstBatch(release)
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = in.Accept(ctx, acceptance(name+"-blocker")) })
		for in.Queued() != 0 {
			time.Sleep(time.Millisecond)
		}
		for i := range n {
			wg.Go(func() {
				a := acceptance(fmt.Sprintf("%s-%d", name, i))
				if held, err := in.Accept(ctx, a); err != nil || held != a.Claim {
					t.Errorf("%s %d: held %+v, %v", name, i, held, err)
				}
			})
		}
		for in.Queued() != n {
			time.Sleep(time.Millisecond)
		}
		close(release)
		wg.Wait()
	}
	burst("first", 40)
	mu.Lock()
	t.Logf("batch sizes, first burst: %v", sizes)
	sizes = nil
	mu.Unlock()
	burst("second", 40)
	mu.Lock()
	defer mu.Unlock()
	for _, n := range sizes {
		if n > 10 {
			t.Errorf("batch sizes after the server refused one as too large: %v, want each ≤ 10 orders (30 messages)", sizes)
			break
		}
	}
	if got := placeCommands(t, js); got != 82 {
		t.Errorf("%d PlaceOrder commands stored, want 82", got)
	}
}

// An order stored alone whose process died after its claim (claim stored, command and copy
// not) is finished by the key's next request: it answers with the claimed order and stores
// the command and the copy, once.
func TestReplayFinishesAnOrderWhoseClaimWasStoredAlone(t *testing.T) {
	t.Parallel()
	in, js := newBatchIntake(t, nil)
	ctx := context.Background()
	first := acceptance("crashed")
	claim, err := json.Marshal(first.Claim)
	if err != nil {
		t.Fatal(err)
	}
	// What publishAlone stores before the command: the claim, as the crash left it.
	m := nats.NewMsg(events.SubjectClaimPrefix + broker.ClaimKey("shop", "crashed"))
	m.Data = claim
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := in.Accepted(ctx, first.Claim.OrderID); found || placeCommands(t, js) != 0 {
		t.Fatal("the test's premise: no copy and no command yet")
	}
	retry := acceptance("crashed")
	retry.Claim.RequestHash = first.Claim.RequestHash // the same body, retried
	held, err := in.Accept(ctx, retry)
	if err != nil || held != first.Claim {
		t.Fatalf("retry held %+v (%v), want the claimed %+v", held, err, first.Claim)
	}
	if _, found, err := in.Accepted(ctx, first.Claim.OrderID); err != nil || !found {
		t.Errorf("pending copy after the retry: found %v, %v", found, err)
	}
	if _, err := in.Accept(ctx, retry); err != nil {
		t.Fatal(err)
	}
	if got := placeCommands(t, js); got != 1 {
		t.Errorf("%d PlaceOrder commands stored, want 1", got)
	}
	other := acceptance("crashed") // another body: a 422 for the caller, nothing stored
	if held, err := in.Accept(ctx, other); err != nil || held != first.Claim {
		t.Errorf("other body: held %+v, %v", held, err)
	}
	if got := placeCommands(t, js); got != 1 {
		t.Errorf("%d PlaceOrder commands stored after a different body, want 1", got)
	}
}
