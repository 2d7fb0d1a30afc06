package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/testenv"
)

// natsServer is an external nats-server process (the machine's binary) with JetStream on a
// fixed loopback address and store directory, so that a test can kill it and start it again
// where it was, with the streams it had.
type natsServer struct {
	addr, dir string
	extra     []string
	cmd       *exec.Cmd
}

func newNATSServer(t *testing.T, extra ...string) *natsServer {
	return &natsServer{addr: freeAddr(t), dir: t.TempDir(), extra: extra}
}

func (n *natsServer) url() string { return "nats://" + n.addr }

// start runs the server and waits until it listens; it is killed at cleanup. It fails the test
// when the binary is missing: .ci/run installs it.
func (n *natsServer) start(t *testing.T) {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin = "/usr/sbin/nats-server"
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("nats-server binary not found (PATH or /usr/sbin): install it (.ci/run does)")
		}
	}
	host, port, _ := net.SplitHostPort(n.addr)
	cmd := exec.Command(bin, append([]string{"-a", host, "-p", port, "-js", "-sd", n.dir}, n.extra...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.cmd = cmd
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, 20*time.Second, func() bool {
		conn, err := net.DialTimeout("tcp", n.addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}

// kill ends the server with SIGKILL, as a crash would. (nats-server 2.9 writes each message of
// a single-replica stream to its file before the ack, so a killed process loses no acked
// message; a power loss could, which is what sync_interval: always is for.)
func (n *natsServer) kill(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill nats-server: %v", err)
	}
	_ = n.cmd.Wait() // "signal: killed" is what was asked for
}

// chaosOrder is one order the load placed: its Idempotency-Key, payment token and, once a 202
// answered it, its id.
type chaosOrder struct {
	key, token, id string
	attempts       int
	lastFailure    string
}

// chaosLoad places orders at a steady pace, each from its own goroutine so that an outage
// delays the orders caught in it and not the ones after. A client retries a 503 (and a
// transport error or a 5xx) with the same Idempotency-Key, as a storefront should, until it
// gets an answer that settles the request or its patience runs out.
type chaosLoad struct {
	c        *client
	skus     int
	patience time.Duration

	mu     sync.Mutex
	orders []*chaosOrder
	wg     sync.WaitGroup
}

// run places one order every interval until stop is closed or n orders were placed, then
// waits for every client to finish.
func (l *chaosLoad) run(stop <-chan struct{}, interval time.Duration, n int) {
	// Most orders approve; some decline; some fail transiently twice at the gateway before
	// they approve (tok_chargeDeclinedProcessingError).
	tokens := [...]string{"tok_visa", "tok_visa", "tok_visa", "tok_visa", "tok_visa", "tok_visa",
		"tok_visa", "tok_visa", "tok_chargeDeclined", "tok_chargeDeclinedProcessingError"}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := range n {
		select {
		case <-stop:
			l.wg.Wait()
			return
		case <-tick.C:
		}
		o := &chaosOrder{key: fmt.Sprintf("chaos-%d", i), token: tokens[i%len(tokens)]}
		l.mu.Lock()
		l.orders = append(l.orders, o)
		l.mu.Unlock()
		body := orderBody(fmt.Sprintf("c-%d", i), line{SKU: fmt.Sprintf("SKU-%d", i%l.skus), Quantity: 1 + i%3, UnitPrice: 100 + i%900})
		body["payment"] = map[string]string{"token": o.token}
		l.wg.Go(func() { l.place(o, body) })
	}
	l.wg.Wait()
}

// place posts body until a 202 (or an answer that no retry changes) or patience runs out.
func (l *chaosLoad) place(o *chaosOrder, body map[string]any) {
	for deadline := time.Now().Add(l.patience); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		id, res, err := l.c.placeOrder(o.key, body)
		l.mu.Lock()
		o.attempts++
		switch {
		case id != "":
			o.id, o.lastFailure = id, ""
		case err != nil:
			o.lastFailure = err.Error()
		default:
			o.lastFailure = fmt.Sprintf("%d %s", res.status, res.body)
		}
		l.mu.Unlock()
		if id != "" || (err == nil && res.status < http.StatusInternalServerError) {
			return
		}
	}
}

// results returns the accepted orders and the ones no 202 answered.
func (l *chaosLoad) results() (accepted, refused []chaosOrder) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.orders {
		if o.id != "" {
			accepted = append(accepted, *o)
		} else {
			refused = append(refused, *o)
		}
	}
	return accepted, refused
}

// retries counts the requests beyond the first, i.e. the retries the faults caused.
func (l *chaosLoad) retries() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, o := range l.orders {
		n += o.attempts - 1
	}
	return n
}

// waitOrdersSettled waits until every id is stored in a settled status and returns each id's
// status ("" for an order that was never stored). Unlike waitAllSettled it does not stop the
// test: what did not settle is reported by the caller, next to the other checks.
func waitOrdersSettled(t *testing.T, db *pgxpool.Pool, ids []string, within time.Duration) map[string]string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		status := orderStatuses(t, db, ids)
		unsettled := 0
		for _, id := range ids {
			if !order.Status(status[id]).Settled() {
				unsettled++
			}
		}
		if unsettled == 0 || time.Now().After(deadline) {
			return status
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func orderStatuses(t *testing.T, db *pgxpool.Pool, ids []string) map[string]string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT id::text, status FROM orders WHERE id = ANY($1::uuid[])`, ids)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := make(map[string]string, len(ids))
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		out[id] = status
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkNoDeadLetters fails the test when the dead-letter stream holds anything, naming the
// first few entries with their subject, order and reason.
func checkNoDeadLetters(t *testing.T, natsURL string) {
	t.Helper()
	ctx := context.Background()
	st, err := testenv.Connect(t, natsURL).Stream(ctx, events.StreamDeadLetters)
	if err != nil {
		t.Fatalf("dead-letter stream: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("dead-letter stream info: %v", err)
	}
	if info.State.Msgs == 0 {
		return
	}
	t.Errorf("%d messages dead-lettered", info.State.Msgs)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq < info.State.FirstSeq+5; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Errorf("dead letter %d: %v", seq, err)
			continue
		}
		t.Errorf("  dead letter %d: %s order %s: %s", seq, m.Header.Get(events.MetaName), m.Header.Get(events.MetaOrderID),
			m.Header.Get(middleware.ReasonForPoisonedKey))
	}
}

// checkHoldsReleased fails the test for every approved authorization the simulated gateway
// recorded that was neither captured nor voided: a hold left on a customer's card.
func checkHoldsReleased(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	rows, err := db.Query(context.Background(), `
		SELECT a.order_id, COALESCE(o.status, '(no order)') FROM gateway_sim_operations a
		LEFT JOIN orders o ON o.id::text = a.order_id
		WHERE a.operation = 'authorize' AND a.outcome = 'approved'
		  AND NOT EXISTS (SELECT 1 FROM gateway_sim_operations s WHERE s.authorization_id = a.authorization_id
		                  AND s.operation IN ('capture', 'void') AND s.outcome = 'approved')
		ORDER BY a.order_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var held []string
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		held = append(held, id+" ("+status+")")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(held) > 0 {
		t.Errorf("%d holds neither captured nor voided, e.g. %v", len(held), held[:min(5, len(held))])
	}
}
