package main

import (
	"maps"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopflow/orders/internal/testenv"
)

// chaosFaultDefault is how long each fault of TestChaos lasts in the suite. Issue 11 asks for
// 60 s per fault; that would add about two minutes to CI, so the suite runs 15 s (long enough
// for several redeliveries with back-off of every message caught in it) and
// CHAOS_FAULT_SECONDS=60 runs the version.
const chaosFaultDefault = 15 * time.Second

// chaosNATSDown is how long NATS stays down between its kill and its restart: a restart, not
// an outage (the API answers 503 meanwhile, and clients retry).
const chaosNATSDown = 5 * time.Second

func chaosFaultDuration(t *testing.T) time.Duration {
	t.Helper()
	s := os.Getenv("CHAOS_FAULT_SECONDS")
	if s == "" {
		return chaosFaultDefault
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("CHAOS_FAULT_SECONDS=%q: want a positive number of seconds", s)
	}
	return time.Duration(n) * time.Second
}

// TestChaos runs the service (an external nats-server, `orders api`, `orders worker`) under a
// steady load of orders while, in turn, PostgreSQL refuses writes, the payment gateway fails
// half its calls, and NATS is killed and restarted. None of these is a reason for an order to
// fail: afterwards every accepted order settles as its card says (approving and transiently
// failing tokens confirmed, declining ones cancelled), nothing is parked in needs_attention or
// dead-lettered, stock is conserved, and every hold on a card was captured or voided.
func TestChaos(t *testing.T) {
	t.Parallel()
	fault := chaosFaultDuration(t)
	nats := newNATSServer(t)
	nats.start(t)
	dbURL := testenv.DatabaseURL(t)
	// A STUCK_AFTER of seconds puts the sweeper to work within a fault (on orders whose capture
	// is being retried), as the default 5m does in an outage of minutes.
	env := map[string]string{"DATABASE_URL": dbURL, "NATS_URL": nats.url(), "SWEEP_INTERVAL": "1s", "STUCK_AFTER": "2s"}
	api := startInstance(t, "api", env)
	worker := startInstance(t, "worker", env)

	c := newClient(api.api)
	const skus, stockEach = 8, 10_000 // plenty: every approved order can be sold
	for i := range skus {
		c.setStock(t, "SKU-"+strconv.Itoa(i), stockEach)
	}
	load := &chaosLoad{c: c, skus: skus, patience: 2 * time.Minute}
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); load.run(stop, 150*time.Millisecond, 2000) }()

	// The sleeps here and in the faults are the schedule of the faults, not assertions.
	rig := &chaosRig{nats: nats, dbURL: dbURL, env: env, worker: worker}
	time.Sleep(3 * time.Second)
	rig.readOnlyPostgres(t, fault)
	rig.failingGateway(t, fault)
	rig.restartNATS(t)
	close(stop)
	<-loadDone

	accepted, refused := load.results()
	t.Logf("%d orders accepted, %d never accepted, %d retries", len(accepted), len(refused), load.retries())
	for _, o := range refused[:min(5, len(refused))] {
		t.Errorf("order %s (%s) not accepted after %d attempts: %s", o.key, o.token, o.attempts, o.lastFailure)
	}
	checkChaosOutcome(t, accepted, skus*stockEach, dbURL, nats.url())
}

// chaosRig is what TestChaos injects its faults into.
type chaosRig struct {
	nats   *natsServer
	dbURL  string
	env    map[string]string // the processes' environment
	worker *instance
}

// readOnlyPostgres makes the test's database refuse writes for d, then lets the service
// recover for a few seconds.
func (r *chaosRig) readOnlyPostgres(t *testing.T, d time.Duration) {
	t.Helper()
	t.Logf("postgres read-only for %s: %d sessions terminated", d, testenv.SetReadOnly(t, r.dbURL, true))
	time.Sleep(d)
	t.Logf("postgres writable again: %d sessions terminated", testenv.SetReadOnly(t, r.dbURL, false))
	time.Sleep(5 * time.Second)
	requireFaultSeen(t, "postgres read-only", r.worker, "SQLSTATE 25006")
}

// failingGateway makes the payment gateway fail half its calls for d. The simulated gateway's
// failure rate is fixed when its process starts, so the worker is replaced by one whose
// gateway fails, then by a healthy one again.
func (r *chaosRig) failingGateway(t *testing.T, d time.Duration) {
	t.Helper()
	t.Logf("gateway failing half its calls for %s", d)
	failing := maps.Clone(r.env)
	failing["SIM_GATEWAY_FAILURE_RATE"] = "0.5"
	r.worker.stop(t)
	r.worker = startInstance(t, "worker", failing)
	time.Sleep(d)
	r.worker.stop(t)
	requireFaultSeen(t, "gateway failures", r.worker, "injected failure")
	r.worker = startInstance(t, "worker", r.env)
	time.Sleep(5 * time.Second)
}

// restartNATS kills nats-server, starts it again on its port and store after chaosNATSDown,
// and lets the clients reconnect.
func (r *chaosRig) restartNATS(t *testing.T) {
	t.Helper()
	t.Logf("nats-server killed for %s, then restarted on its store", chaosNATSDown)
	r.nats.kill(t)
	time.Sleep(chaosNATSDown)
	r.nats.start(t)
	time.Sleep(5 * time.Second)
}

// checkChaosOutcome checks what TestChaos promises once the faults are over.
func checkChaosOutcome(t *testing.T, accepted []chaosOrder, initialStock int, dbURL, natsURL string) {
	t.Helper()
	db := connectDB(t, dbURL) // connected after the faults: the read-only phase ends every session
	ids := make([]string, len(accepted))
	for i, o := range accepted {
		ids[i] = o.id
	}
	status := waitOrdersSettled(t, db, ids, 3*time.Minute)
	t.Logf("statuses: %v", countByStatus(t, db))
	wrong := 0
	for _, o := range accepted {
		want := "confirmed"
		if o.token == "tok_chargeDeclined" {
			want = "cancelled" // a declined authorization cancels the order
		}
		if got := status[o.id]; got != want {
			if wrong < 10 {
				t.Errorf("order %s (%s): status %q, want %q", o.id, o.token, got, want)
			}
			wrong++
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d accepted orders did not end as their card says (\"\" = never stored)", wrong, len(accepted))
	}
	checkNoDeadLetters(t, natsURL)
	checkStockInvariants(t, db)
	checkSettledStock(t, db, initialStock)
	checkGatewayRecord(t, db)
	checkHoldsReleased(t, db)
}

// requireFaultSeen fails the test unless the worker's logs show that the fault reached it: a
// fault that missed would leave nothing to test.
func requireFaultSeen(t *testing.T, fault string, worker *instance, logged string) {
	t.Helper()
	if n := strings.Count(worker.logs.String(), logged); n == 0 {
		t.Fatalf("%s: the worker never logged %q; the fault did not reach it", fault, logged)
	} else {
		t.Logf("%s: the worker logged %q %d times", fault, logged, n)
	}
}
