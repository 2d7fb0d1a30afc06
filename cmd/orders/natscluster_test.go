package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// natsServerVersion is the nats-server the cluster tests need: `make deploy-tools` installs
// it (Debian's 2.9 is too old for the cluster the deployments run).
const natsServerVersion = "v2.15."

// clusterNode is one nats-server process of a test cluster, restartable on its own store.
type clusterNode struct {
	name, client, monitor string
	conf                  string
	bin                   string
	cmd                   *exec.Cmd
	exited                chan struct{}
	logs                  *syncBuffer
}

// natsServer215 finds nats-server 2.15 in $TOOLS_BIN, the repository's bin/tools, then PATH,
// and fails the test, saying how to install it, when none is that version: never a skip.
func natsServer215(t *testing.T) string {
	t.Helper()
	var candidates, seen []string
	if dir := os.Getenv("TOOLS_BIN"); dir != "" {
		candidates = append(candidates, filepath.Join(dir, "nats-server"))
	}
	candidates = append(candidates, filepath.Join("..", "..", "bin", "tools", "nats-server"))
	if p, err := exec.LookPath("nats-server"); err == nil {
		candidates = append(candidates, p)
	}
	for _, c := range candidates {
		out, err := exec.Command(c, "--version").CombinedOutput()
		if err != nil {
			continue
		}
		if strings.Contains(string(out), natsServerVersion) {
			abs, _ := filepath.Abs(c)
			return abs
		}
		seen = append(seen, c+": "+strings.TrimSpace(string(out)))
	}
	t.Fatalf("nats-server %sx not found in $TOOLS_BIN, bin/tools or PATH (found %q): run `make deploy-tools` (.ci/run does)", natsServerVersion, seen)
	return ""
}

// startNATSCluster starts three nats-server processes on random loopback ports forming one
// cluster, JetStream on file storage with every write synced, as deploy/nats/cluster.conf
// configures it, and waits until each reports healthy.
func startNATSCluster(t *testing.T) []*clusterNode {
	t.Helper()
	bin := natsServer215(t)
	nodes := make([]*clusterNode, 3)
	routes := make([]string, len(nodes))
	clusterAddrs := make([]string, len(nodes))
	for i := range nodes {
		clusterAddrs[i] = freeAddr(t)
		routes[i] = "nats://" + clusterAddrs[i]
	}
	for i := range nodes {
		dir := t.TempDir()
		n := &clusterNode{name: fmt.Sprintf("n%d", i+1), client: freeAddr(t), monitor: freeAddr(t),
			conf: filepath.Join(dir, "nats.conf"), bin: bin, logs: &syncBuffer{}}
		conf := fmt.Sprintf(`server_name: %s
listen: %q
http: %q
jetstream { store_dir: %q, sync_interval: always }
cluster { name: orders-test, listen: %q, routes: [%s] }
`, n.name, n.client, n.monitor, filepath.Join(dir, "store"), clusterAddrs[i], strings.Join(routes, ", "))
		if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		nodes[i] = n
		n.start(t)
		t.Cleanup(func() { n.kill(t) })
	}
	for _, n := range nodes {
		n.waitHealthy(t, 60*time.Second)
	}
	return nodes
}

func (n *clusterNode) start(t *testing.T) {
	t.Helper()
	n.cmd = exec.Command(n.bin, "-c", n.conf)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start nats-server %s: %v", n.name, err)
	}
	n.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { _ = cmd.Wait(); close(exited) }(n.cmd, n.exited)
}

// kill is kill -9: no lame duck, no flush, as a machine's loss.
func (n *clusterNode) kill(t *testing.T) {
	t.Helper()
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
	n.cmd = nil
}

// waitHealthy waits for /healthz: JetStream enabled, the meta group and this server's stream
// replicas current.
func (n *clusterNode) waitHealthy(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if res, err := http.Get("http://" + n.monitor + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nats-server %s not healthy within %s\n%s", n.name, within, n.logs.String())
}

func clusterURL(nodes []*clusterNode) string {
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = "nats://" + n.client
	}
	return strings.Join(urls, ",")
}

// workerProcess is `orders worker` as a separate process of the built binary, so that it can
// be killed with SIGKILL (an in-process instance can only be stopped gracefully).
type workerProcess struct {
	bin, admin string
	env        []string
	cmd        *exec.Cmd
	exited     chan struct{}
	logs       *syncBuffer
}

func startWorkerProcess(t *testing.T, bin string, env map[string]string) *workerProcess {
	t.Helper()
	w := &workerProcess{bin: bin, admin: freeAddr(t), logs: &syncBuffer{}}
	w.env = append(os.Environ(), "HTTP_ADDR="+freeAddr(t), "ADMIN_ADDR="+w.admin, "LOG_LEVEL=warn",
		"LOG_FORMAT=text", "DB_MAX_CONNS="+testDBMaxConns)
	for k, v := range env {
		w.env = append(w.env, k+"="+v)
	}
	w.start(t)
	t.Cleanup(func() { w.kill() })
	return w
}

func (w *workerProcess) start(t *testing.T) {
	t.Helper()
	w.cmd = exec.Command(w.bin, "worker")
	w.cmd.Env, w.cmd.Stdout, w.cmd.Stderr = w.env, w.logs, w.logs
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("start orders worker: %v", err)
	}
	w.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { _ = cmd.Wait(); close(exited) }(w.cmd, w.exited)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get("http://" + w.admin + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("orders worker not ready within 60s\n%s", w.logs.String())
}

func (w *workerProcess) kill() {
	if w.cmd == nil {
		return
	}
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.exited
	w.cmd = nil
}

// stopGracefully is a planned stop, as the StatefulSet's preStop does it: lame-duck mode,
// which hands this server's Raft leaderships to its peers, then, once it leads no stream,
// SIGTERM (the test does not wait out the 30 s minimum of lame duck's client migration).
func (n *clusterNode) stopGracefully(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatalf("lame duck %s: %v", n.name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		led, err := leadership(js, n.name)
		if err == nil && len(led) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still leads %v (%v) 30 s into lame duck", n.name, led, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
		n.cmd = nil
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit within 30 s of SIGTERM\n%s", n.name, n.logs.String())
	}
}
