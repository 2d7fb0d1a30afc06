package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/internal/testenv"
)

// TestDashboardsAndAlertsEvaluate runs a real Prometheus (the `prometheus` binary, installed by
// .ci/run) scraping a running `orders run` under a small load, then evaluates every PromQL
// expression of the Grafana dashboard and of the alert rules through Prometheus' HTTP API. An
// expression that errors or returns no series fails the test: a panel or alert that can never
// show anything is a lie.
func TestDashboardsAndAlertsEvaluate(t *testing.T) {
	t.Parallel()
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("the prometheus binary is not on PATH: install Debian's prometheus package (.ci/run does)")
	}
	natsAddr := freeAddr(t)
	dbURL := testenv.DatabaseURL(t)
	in := startInstance(t, "run", map[string]string{"DATABASE_URL": dbURL, "DATA_DIR": t.TempDir(), "NATS_LISTEN": natsAddr})
	c := newClient(in.api)
	c.setStock(t, "SKU-1", 5)
	seedOutcomes(t, c, dbURL)
	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish(events.SubjectPlaceOrder, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); trickle(c, stop) }()
	defer func() { close(stop); <-done }()

	prom := startPrometheus(t, promBin, in.admin)
	waitFor(t, 60*time.Second, func() bool {
		res, err := promQuery(prom, `count_over_time(up{job="orders"}[1m]) >= 5`)
		return err == nil && len(res) == 1
	})
	var exprs []string
	for _, e := range dashboardExprs(t) {
		exprs = append(exprs, strings.ReplaceAll(e, "$__rate_interval", "1m"))
	}
	for _, e := range alertExprs(t) {
		// A firing condition is false on a healthy system; "bool" keeps the series so that the
		// expression itself is checked.
		exprs = append(exprs, regexp.MustCompile(` (==|!=|>=|<=|>|<) `).ReplaceAllString(e, " $1 bool "))
	}
	if len(exprs) < 20 {
		t.Fatalf("found only %d expressions", len(exprs))
	}
	for _, e := range exprs {
		res, err := promQuery(prom, e)
		if err != nil {
			t.Errorf("%s: %v", e, err)
		} else if len(res) == 0 {
			t.Errorf("%s: no series", e)
		}
	}
	checkRulesHealthy(t, prom)
}

// seedOutcomes makes one order of each outcome the dashboard shows: declined, confirmed and
// refunded (rejections follow from the trickle running out of stock).
func seedOutcomes(t *testing.T, c *client, dbURL string) {
	t.Helper()
	declined := orderBody("c", line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100})
	declined["payment"] = map[string]string{"token": "tok_chargeDeclined"}
	idDeclined, _, err1 := c.placeOrder("declined", declined)
	idRefund, _, err2 := c.placeOrder("refund", orderBody("c", line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100}))
	if err1 != nil || err2 != nil || idDeclined == "" || idRefund == "" {
		t.Fatalf("seed orders: %v %v", err1, err2)
	}
	db := connectDB(t, dbURL)
	waitAllSettled(t, db, []string{idDeclined, idRefund}, 30*time.Second)
	if res, err := c.do(http.MethodPost, "/v1/orders/"+idRefund+"/cancel", nil, nil); err != nil || res.status != http.StatusAccepted {
		t.Fatalf("cancel a confirmed order: %v %d %s", err, res.status, res.body)
	}
	waitFor(t, 30*time.Second, func() bool {
		var st string
		return db.QueryRow(context.Background(), `SELECT status FROM orders WHERE id = $1`, idRefund).Scan(&st) == nil && st == "refunded"
	})
}

// trickle places an order every 200ms (all but the first few rejected for want of stock)
// until stop closes.
func trickle(c *client, stop <-chan struct{}) {
	for i := 0; ; i++ {
		_, _, _ = c.placeOrder(fmt.Sprintf("k-%d", i), orderBody("c", line{SKU: "SKU-1", Quantity: 1, UnitPrice: 100}))
		select {
		case <-stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [%q]\n"+
		"scrape_configs:\n  - job_name: orders\n    static_configs: [{targets: [%q]}]\n", rules, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	waitFor(t, 30*time.Second, func() bool {
		res, err := http.Get(base + "/-/ready")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == http.StatusOK
	})
	return base
}

// promQuery evaluates expr now and returns its result vector.
func promQuery(base, expr string) ([]json.RawMessage, error) {
	res, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s", body.Error)
	}
	return body.Data.Result, nil
}

func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/grafana/dashboards/orders.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	return out
}

func alertExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^\s+expr: (.+)$`).FindAllStringSubmatch(string(b), -1) {
		out = append(out, strings.TrimSpace(m[1]))
	}
	return out
}

// checkRulesHealthy asks Prometheus whether it evaluated every alert rule without error.
func checkRulesHealthy(t *testing.T, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/rules", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name, Health, LastError string
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range body.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				t.Errorf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
			}
		}
	}
	if n < 10 {
		t.Errorf("Prometheus loaded %d rules, want every rule of alerts.yml", n)
	}
}
