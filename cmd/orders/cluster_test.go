package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/testenv"
)

// TestClusterSurvivesNodeAndWorkerKills runs the deployment's shape on loopback: three
// nats-server 2.15 processes in one cluster (streams of 3 replicas, every write synced), two
// `orders api` instances and two `orders worker`s (one a separate process), and storefront
// clients that retry an order with the same Idempotency-Key until it is accepted. Under that
// load it kills with SIGKILL, one after the other, the server leading the commands stream, the
// server leading the events stream (each restarted on its store) and the worker process
// (restarted). Every accepted order settles exactly once, stock is conserved, nothing is
// dead-lettered, and the longest interval without a 202 after each kill is reported (issue
// 15's target is 3 s).
func TestClusterSurvivesNodeAndWorkerKills(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	nodes := startNATSCluster(t)
	dbURL := testenv.DatabaseURL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "NATS_URL": clusterURL(nodes), "NATS_REPLICAS": "3"}
	apis := []*instance{startInstance(t, "api", env), startInstance(t, "api", env)}
	startInstance(t, "worker", env)
	worker := startWorkerProcess(t, bin, env)

	const skus, stockPerSKU = 4, 5000
	c := newClient(apis[0].api)
	for i := range skus {
		c.setStock(t, fmt.Sprintf("SKU-%d", i), stockPerSKU)
	}
	js := testenv.Connect(t, clusterURL(nodes))
	load := startRetryingLoad(apis, skus, 6)
	time.Sleep(3 * time.Second) // a steady rate first, so the gaps are measured against it

	var kills []time.Time
	for _, stream := range []string{events.StreamCommands, events.StreamEvents} {
		kills = append(kills, killStreamLeader(t, js, nodes, stream))
		time.Sleep(2 * time.Second)
	}
	kills = append(kills, time.Now())
	worker.kill()
	t.Log("killed an orders worker process with SIGKILL")
	time.Sleep(2 * time.Second)
	worker.start(t)
	time.Sleep(2 * time.Second)
	res := load.stop()

	for _, err := range res.errs {
		t.Error(err)
	}
	if len(res.ids) < 50 {
		t.Fatalf("only %d orders accepted: the load did not run", len(res.ids))
	}
	db := connectDB(t, dbURL)
	waitAllSettled(t, db, res.ids, 120*time.Second)
	checkStockInvariants(t, db)
	checkSettledStock(t, db, skus*stockPerSKU)
	checkGatewayRecord(t, db)
	checkOnePerAccepted(t, db, len(res.ids))
	checkNoDeadLetters(t, clusterURL(nodes))
	t.Logf("%d orders accepted, %d retries (%v by status; 0 is no answer)", len(res.ids), res.retries, res.retryStatuses)
	for i, what := range []string{"commands leader", "events leader", "worker"} {
		gap, at := res.longestGapBetween(kills[i], kills[i].Add(10*time.Second))
		t.Logf("kill of the %s: longest interval without a 202 %s, from %s after the kill",
			what, gap.Round(time.Millisecond), at.Sub(kills[i]).Round(time.Millisecond))
	}
}

// killStreamLeader kills the server leading stream with SIGKILL, waits for the stream to elect
// another leader, restarts the server on its store and waits until it is healthy again. It
// returns when the kill happened.
func killStreamLeader(t *testing.T, js jetstream.JetStream, nodes []*clusterNode, stream string) time.Time {
	t.Helper()
	leader := streamLeader(t, js, stream)
	victim := nodes[slices.IndexFunc(nodes, func(n *clusterNode) bool { return n.name == leader })]
	led := streamsLedBy(t, js, victim.name)
	killedAt := time.Now()
	victim.kill(t)
	waitForNewLeader(t, js, stream, victim.name, 30*time.Second)
	t.Logf("killed %s, leader of %v; a new leader of %s after %s", victim.name, led, stream, time.Since(killedAt).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	victim.start(t)
	victim.waitHealthy(t, 60*time.Second)
	t.Logf("%s restarted, healthy %s after the kill", victim.name, time.Since(killedAt).Round(time.Millisecond))
	return killedAt
}

// retryingLoad is storefront clients posting orders; each order keeps its Idempotency-Key
// across retries, alternating between the API instances, until a 202.
type retryingLoad struct {
	stopping atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	res      loadResult
}

type loadResult struct {
	ids           []string
	accepted      []time.Time
	retries       int
	retryStatuses map[int]int // 0: no answer (connection error, timeout)
	errs          []error
}

func startRetryingLoad(apis []*instance, skus, clients int) *retryingLoad {
	l := &retryingLoad{res: loadResult{retryStatuses: map[int]int{}}}
	cs := make([]*client, len(apis))
	for i, a := range apis {
		cs[i] = newClient(a.api)
		cs[i].http.Timeout = 10 * time.Second
	}
	var next atomic.Int64
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for !l.stopping.Load() {
				i := int(next.Add(1))
				l.place(cs, fmt.Sprintf("cluster-%d", i), orderBody(fmt.Sprintf("c-%d", i),
					line{SKU: fmt.Sprintf("SKU-%d", i%skus), Quantity: 1 + i%2, UnitPrice: 500}), i)
			}
		}()
	}
	return l
}

// place retries one order until it is accepted, or fails it after a minute.
func (l *retryingLoad) place(cs []*client, key string, body map[string]any, i int) {
	deadline := time.Now().Add(time.Minute)
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		id, res, err := cs[(i+attempt)%len(cs)].placeOrder(key, body)
		l.mu.Lock()
		switch {
		case id != "":
			l.res.ids = append(l.res.ids, id)
			l.res.accepted = append(l.res.accepted, time.Now())
			l.mu.Unlock()
			return
		case err == nil && res.status < 500 && res.status != http.StatusConflict && res.status != http.StatusTooManyRequests:
			l.res.errs = append(l.res.errs, fmt.Errorf("order %s: %d %s: not retryable", key, res.status, res.body))
			l.mu.Unlock()
			return
		}
		l.res.retries++
		l.res.retryStatuses[res.status]++
		l.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
	l.mu.Lock()
	l.res.errs = append(l.res.errs, fmt.Errorf("order %s: not accepted within a minute of retries", key))
	l.mu.Unlock()
}

// stop lets every order in flight finish its retries, then returns what the load saw.
func (l *retryingLoad) stop() loadResult {
	l.stopping.Store(true)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.res
}

// longestGapBetween is the longest interval without a 202 that begins between from and to
// (the last 202 before from counts as its start), and when it began.
func (r loadResult) longestGapBetween(from, to time.Time) (time.Duration, time.Time) {
	times := slices.Clone(r.accepted)
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	var longest time.Duration
	var at time.Time
	for i := 1; i < len(times); i++ {
		if times[i].Before(from) || times[i-1].After(to) {
			continue
		}
		if d := times[i].Sub(times[i-1]); d > longest {
			longest, at = d, times[i-1]
		}
	}
	return longest, at
}

func streamLeader(t *testing.T, js jetstream.JetStream, stream string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	if s.CachedInfo().Cluster == nil || s.CachedInfo().Cluster.Leader == "" || len(s.CachedInfo().Cluster.Replicas) != 2 {
		t.Fatalf("stream %s: cluster %+v, want a leader and 2 more replicas", stream, s.CachedInfo().Cluster)
	}
	return s.CachedInfo().Cluster.Leader
}

// streamsLedBy lists the streams (the idempotency bucket's among them) that server leads: a
// kill interrupts the writes of each of them, not only of the one it was chosen for.
func streamsLedBy(t *testing.T, js jetstream.JetStream, server string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var led []string
	streams := js.ListStreams(ctx)
	for info := range streams.Info() {
		if info.Cluster != nil && info.Cluster.Leader == server {
			led = append(led, info.Config.Name)
		}
	}
	if err := streams.Err(); err != nil {
		t.Fatalf("list streams: %v", err)
	}
	return led
}

// waitForNewLeader waits until the stream reports a leader other than old.
func waitForNewLeader(t *testing.T, js jetstream.JetStream, stream, old string, within time.Duration) {
	t.Helper()
	waitFor(t, within, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		return err == nil && s.CachedInfo().Cluster != nil && s.CachedInfo().Cluster.Leader != "" && s.CachedInfo().Cluster.Leader != old
	})
}

// checkOnePerAccepted: one order and one applied command per accepted order, none more.
func checkOnePerAccepted(t *testing.T, db *pgxpool.Pool, accepted int) {
	t.Helper()
	var orders, inbox int
	err := db.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM orders),
		(SELECT count(*) FROM inbox WHERE consumer = 'inventory-place-order')`).Scan(&orders, &inbox)
	if err != nil {
		t.Fatal(err)
	}
	if orders != accepted || inbox != accepted {
		t.Errorf("%d orders and %d applied commands for %d accepted", orders, inbox, accepted)
	}
}
