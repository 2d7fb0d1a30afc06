package webhook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/domain/webhook"
)

// The Standard Webhooks specification's published test vector (the reference libraries'
// tests use it): a receiver's library accepts what we send only if this reproduces exactly.
func TestSignMatchesTheSpecificationVector(t *testing.T) {
	t.Parallel()
	got, err := webhook.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestSignedHeadersCarryEverySecret(t *testing.T) {
	t.Parallel()
	old, _ := webhook.GenerateSecret()
	cur, _ := webhook.GenerateSecret()
	s := webhook.Secrets{Current: old}.Rotate(cur, time.Now())
	body := []byte(`{"a":1}`)
	now := time.Now()
	h, err := webhook.SignedHeaders(s.Active(now), "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range []string{old, cur} {
		if err := webhook.Verify(sec, h, body, now, 5*time.Minute); err != nil {
			t.Errorf("verify with one of the two secrets: %v", err)
		}
	}
	other, _ := webhook.GenerateSecret()
	if webhook.Verify(other, h, body, now, 5*time.Minute) == nil {
		t.Error("a stranger's secret verified")
	}
	if webhook.Verify(cur, h, []byte(`{"a":2}`), now, 5*time.Minute) == nil {
		t.Error("a changed body verified")
	}
	if got := s.Active(now.Add(webhook.RotationGrace + time.Second)); len(got) != 1 || got[0] != cur {
		t.Errorf("after the grace the secrets are %d, want the current one only", len(got))
	}
}

func TestNewSecretShape(t *testing.T) {
	t.Parallel()
	s, err := webhook.NewSecret(bytes.NewReader(make([]byte, 32)))
	if err != nil || s != "whsec_"+strings.Repeat("A", 43)+"=" {
		t.Fatalf("NewSecret = %q, %v", s, err)
	}
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	strict := webhook.Policy{}
	for raw, ok := range map[string]bool{
		"https://shop.example/hooks": true, "http://shop.example/hooks": false, "ftp://x": false,
		"/relative": false, "https://user:pw@shop.example/": false, "https://": false,
	} {
		if _, err := webhook.ParseURL(raw, strict); (err == nil) != ok {
			t.Errorf("ParseURL(%q) = %v, want ok %v", raw, err, ok)
		}
	}
	if _, err := webhook.ParseURL("http://127.0.0.1:8080/", webhook.Policy{AllowInsecure: true}); err != nil {
		t.Errorf("http with AllowInsecure: %v", err)
	}
}

func TestCheckAddrRefusesPrivateRanges(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.0.1", "169.254.169.254",
		"::1", "fd00:ec2::254", "fe80::1", "0.0.0.0", "::ffff:127.0.0.1", "100.100.100.200"} {
		err := webhook.CheckAddr(netip.MustParseAddr(s), webhook.Policy{})
		if !errors.Is(err, webhook.ErrInvalid) {
			t.Errorf("CheckAddr(%s) = %v, want refused", s, err)
		}
		if err := webhook.CheckAddr(netip.MustParseAddr(s), webhook.Policy{AllowPrivate: true}); err != nil {
			t.Errorf("CheckAddr(%s) with AllowPrivate = %v", s, err)
		}
	}
	for _, s := range []string{"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"} {
		if err := webhook.CheckAddr(netip.MustParseAddr(s), webhook.Policy{}); err != nil {
			t.Errorf("CheckAddr(%s) = %v, want allowed", s, err)
		}
	}
}

func TestNextAttempt(t *testing.T) {
	t.Parallel()
	sched := webhook.DefaultSchedule()
	rnd := rand.New(rand.NewPCG(1, 2))
	for i, base := range sched {
		wait, retry := webhook.NextAttempt(sched, i+1, rnd)
		if !retry || wait < base*8/10 || wait > base*12/10 {
			t.Errorf("after attempt %d: wait %s retry %v, want about %s", i+1, wait, retry, base)
		}
	}
	if _, retry := webhook.NextAttempt(sched, len(sched)+1, rnd); retry {
		t.Error("retried past the schedule")
	}
	if got, err := webhook.ParseSchedule("1s, 2s,4s"); err != nil || len(got) != 3 || got[2] != 4*time.Second {
		t.Errorf("ParseSchedule = %v, %v", got, err)
	}
	if _, err := webhook.ParseSchedule("1s,soon"); err == nil {
		t.Error("ParseSchedule took a bad duration")
	}
}

func TestPlanRendersEachVersionForEachSubscriber(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	o := order.Rehydrate(order.PlaceParams{ID: "o1", Storefront: "s"}, order.StatusConfirmed, "", []order.Change{
		{Version: 1, Status: order.StatusPending, At: at},
		{Version: 2, Status: order.StatusReserved, At: at.Add(time.Second)},
		{Version: 3, Status: order.StatusAuthorized, At: at.Add(2 * time.Second)},
		{Version: 4, Status: order.StatusConfirmed, At: at.Add(3 * time.Second)},
	})
	render := func(o *order.Order) ([]byte, error) {
		return json.Marshal(map[string]any{"status": o.Status(), "version": o.Version()})
	}
	subs := []webhook.Subscription{{EndpointID: "all"}, {EndpointID: "final", Events: []string{"order.confirmed"}},
		{EndpointID: "late", Since: at.Add(time.Hour)}} // registered after every change: hears none
	got, err := webhook.Plan(o, 2, subs, render)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"all order.authorized 3", "all order.confirmed 4", "final order.confirmed 4"}
	if len(got) != len(want) {
		t.Fatalf("planned %d deliveries, want %d: %+v", len(got), len(want), got)
	}
	for i, p := range got {
		if s := p.EndpointID + " " + p.Type + " " + string(rune('0'+p.Version)); s != want[i] {
			t.Errorf("delivery %d = %s, want %s", i, s, want[i])
		}
	}
	var body struct {
		Type      string
		Timestamp time.Time
		Data      struct {
			Status  string
			Version int
		}
	}
	if err := json.Unmarshal(got[0].Payload, &body); err != nil {
		t.Fatal(err)
	}
	if body.Type != "order.authorized" || !body.Timestamp.Equal(at.Add(2*time.Second)) || body.Data.Status != "authorized" || body.Data.Version != 3 {
		t.Errorf("payload = %s", got[0].Payload)
	}
}
