package stripe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// stripeMockVersion is the stripe-mock the tests are written against; its OpenAPI spec must
// know the parameters the gateway sends.
const stripeMockVersion = "v0.203.0"

// stripeMock starts a stripe-mock of this test's own and returns its base URL; it is killed
// when the test ends. Its HTTP and HTTPS listeners both take a random loopback port: with
// -http-addr alone, v0.203.0 still opens HTTPS on [::]:12112, which parallel runs would fight
// over (and -http-port binds every interface, on a port chosen before it is free).
//
// The fixtures are stripe-mock's own for payment_intent, payment_method and refund, with the
// PaymentIntent in requires_capture: the bundled one is requires_payment_method, which no
// confirmed, approved manual-capture PaymentIntent ever is.
func stripeMock(t *testing.T) string {
	t.Helper()
	bin := stripeMockBinary(t)
	fixtures, err := filepath.Abs(filepath.Join("testdata", "stripe-mock-fixtures.json"))
	if err != nil {
		t.Fatalf("stripe-mock fixtures: %v", err)
	}
	out := &watcher{want: "Listening for HTTP at address: ", found: make(chan string, 1)}
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0", "-fixtures", fixtures)
	// stripe-mock logs every request; the watcher reads it all, so the pipe never fills.
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // it ends only so; the error of a dead one says nothing
		_ = cmd.Wait()
	})
	var addr string
	select {
	case addr = <-out.found:
	case <-time.After(30 * time.Second):
		t.Fatalf("stripe-mock did not listen within 30 s; its output:\n%s", out.head())
	}
	url := "http://" + addr
	waitAnswers(t, url, out)
	return url
}

// waitAnswers polls stripe-mock until it serves a request: the listener is open before its
// routes are.
func waitAnswers(t *testing.T, url string, out *watcher) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/payment_intents/pi_ping", nil)
		if err != nil {
			cancel()
			t.Fatalf("stripe-mock probe: %v", err)
		}
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe-mock at %s does not answer (last: %v); its output:\n%s", url, err, out.head())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stripeMockBinary finds stripe-mock on PATH, in GOBIN or in GOPATH/bin, where go install
// puts it. Missing, it fails the test: the Stripe gateway is never left untested.
func stripeMockBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p
	}
	var dirs []string
	var env struct{ GOBIN, GOPATH string }
	if out, err := exec.Command("go", "env", "-json", "GOBIN", "GOPATH").Output(); err == nil && json.Unmarshal(out, &env) == nil {
		if env.GOBIN != "" {
			dirs = append(dirs, env.GOBIN)
		}
		for _, p := range filepath.SplitList(env.GOPATH) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, "stripe-mock")
		if info, err := os.Stat(p); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatalf("stripe-mock is required and was found neither on PATH nor in %v; install it with:\n"+
		"\tgo install github.com/stripe/stripe-mock@%s", dirs, stripeMockVersion)
	return ""
}

// watcher takes stripe-mock's output: it reports the first line that starts with want and
// keeps the beginning of the output for failure messages.
type watcher struct {
	want  string
	found chan string

	mu   sync.Mutex
	buf  bytes.Buffer
	sent bool
}

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sent {
		return len(p), nil // found already: the rest is request logs, dropped
	}
	w.buf.Write(p)
	for line := range strings.Lines(w.buf.String()) {
		if rest, ok := strings.CutPrefix(line, w.want); ok && strings.HasSuffix(line, "\n") {
			w.found <- strings.TrimSpace(rest)
			w.sent = true
			break
		}
	}
	return len(p), nil
}

func (w *watcher) head() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
