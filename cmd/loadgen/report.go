package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

type result struct {
	Config            map[string]any `json:"config"`
	Sent              int64          `json:"requests_sent"`
	Retries           int64          `json:"retries"`
	Accepted          int            `json:"accepted"`
	PlaceSeconds      float64        `json:"place_seconds"`
	AcceptedPerSecond float64        `json:"accepted_per_second"`
	Ingest            latencies      `json:"ingest_latency_ms"`
	Settled           int            `json:"settled"`
	SettledPerSecond  float64        `json:"settled_per_second"`
	Settle            latencies      `json:"accepted_to_settled_ms"`
	ByStatus          map[string]int `json:"by_status"`
	Errors            map[string]int `json:"errors"`
	Verify            *verification  `json:"verify,omitempty"`
}

func (c config) summary() map[string]any {
	return map[string]any{"url": c.url, "rate": c.rate, "concurrency": c.concurrency, "duration": c.duration.String(),
		"orders": c.orders, "skus": c.skus, "skew": c.skew, "decline_ratio": c.declineRatio, "seed": c.seed}
}

func report(w io.Writer, cfg config, r *result) error {
	if cfg.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "accepted        %d of %d requests (%d retries) in %.1fs: %.0f orders/s\n", r.Accepted, r.Sent, r.Retries, r.PlaceSeconds, r.AcceptedPerSecond)
	fmt.Fprintf(&b, "ingest latency  p50 %.1fms  p90 %.1fms  p99 %.1fms  max %.1fms\n", r.Ingest.P50, r.Ingest.P90, r.Ingest.P99, r.Ingest.Max)
	fmt.Fprintf(&b, "settled         %d (%.0f/s)  by status %s\n", r.Settled, r.SettledPerSecond, sortedMap(r.ByStatus))
	fmt.Fprintf(&b, "202 → settled   p50 %.1fms  p99 %.1fms  max %.1fms\n", r.Settle.P50, r.Settle.P99, r.Settle.Max)
	fmt.Fprintf(&b, "errors          %s\n", sortedMap(r.Errors))
	if v := r.Verify; v != nil {
		fmt.Fprintf(&b, "verify          ok=%v %s\n", v.OK, strings.Join(v.Problems, "; "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sortedMap(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
