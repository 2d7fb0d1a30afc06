package main

import (
	"testing"
	"time"

	"github.com/shopflow/orders/domain/webhook"
)

// The README's snippet verifies what the dispatcher signs, with either secret of a rotation,
// and refuses a changed body, a stranger's secret and an old timestamp.
func TestVerifyAcceptsWhatTheDispatcherSigns(t *testing.T) {
	t.Parallel()
	now := time.Now()
	cur, _ := webhook.GenerateSecret()
	old, _ := webhook.GenerateSecret()
	other, _ := webhook.GenerateSecret()
	body := []byte(`{"type":"order.confirmed"}`)
	h, err := webhook.SignedHeaders([]string{cur, old}, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{cur, old} {
		if err := verify(s, h, body, now); err != nil {
			t.Errorf("verify: %v", err)
		}
	}
	if verify(other, h, body, now) == nil || verify(cur, h, []byte(`{}`), now) == nil || verify(cur, h, body, now.Add(10*time.Minute)) == nil {
		t.Error("verify accepted a delivery it must refuse")
	}
}
