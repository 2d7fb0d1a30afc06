package main

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/shopflow/orders/internal/testenv"
)

// TestReadinessSaysWhatTheProcessNeeds: during a PostgreSQL outage an `orders api` process
// still takes orders (JetStream stores them; cached keys authenticate), so it stays ready and
// reports the database failing; a worker cannot do its job and is not ready.
func TestReadinessSaysWhatTheProcessNeeds(t *testing.T) {
	t.Parallel()
	proxy := startDBProxy(t, "127.0.0.1:5432")
	u, err := url.Parse(testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = proxy.addr()
	env := map[string]string{"DATABASE_URL": u.String(), "NATS_URL": testenv.JetStream(t)}
	api := startInstance(t, "api", env)
	worker := startInstance(t, "worker", env)
	t.Cleanup(proxy.restore) // before the instances stop: they drain against the database

	proxy.cut()
	var apiCode, workerCode int
	var apiBody map[string]string
	waitFor(t, 20*time.Second, func() bool {
		apiCode, apiBody = readyz(t, api.admin)
		workerCode, _ = readyz(t, worker.admin)
		return apiBody["postgres"] == "failing" && workerCode == http.StatusServiceUnavailable
	})
	if apiCode != http.StatusOK || apiBody["jetstream"] != "ok" {
		t.Errorf("orders api /readyz during a PostgreSQL outage = %d %v, want 200 (JetStream is what it needs)", apiCode, apiBody)
	}
}

func readyz(t *testing.T, admin string) (int, map[string]string) {
	t.Helper()
	res, err := http.Get("http://" + admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("/readyz body: %v", err)
	}
	return res.StatusCode, body
}

// dbProxy forwards TCP connections to a server until cut: then it closes every connection and
// refuses new ones, which is what a database outage looks like to a client.
type dbProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func startDBProxy(t *testing.T, target string) *dbProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dbProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *dbProxy) addr() string { return p.ln.Addr().String() }

func (p *dbProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		go p.forward(c)
	}
}

func (p *dbProxy) forward(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns = append(p.conns, c, s)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(s, c); s.Close() }()
	_, _ = io.Copy(c, s)
	c.Close()
}

// cut closes every forwarded connection and refuses new ones until restore.
func (p *dbProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *dbProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}
