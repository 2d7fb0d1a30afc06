package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Sign returns the Standard Webhooks signature "v1,<base64 HMAC-SHA256>" of
// "<id>.<timestamp>.<body>", keyed by the base64-decoded part of secret after the prefix.
// (The standard library is enough: the specification is one HMAC, and its Go library pulls
// nothing we lack.)
func Sign(secret, id string, timestamp time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return "", fmt.Errorf("webhook secret is not base64: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// SignedHeaders returns the headers of one attempt: the delivery's id (the same on every
// retry, so receivers can deduplicate), the attempt's time, and one signature per secret,
// space-separated, so a receiver still holding a rotated-out secret verifies too.
func SignedHeaders(secrets []string, id string, at time.Time, body []byte) (http.Header, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		sig, err := Sign(s, id, at, body)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, sig)
	}
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
	h.Set("Content-Type", "application/json")
	return h, nil
}

// Verify checks a delivery as a receiver does: some signature in the header matches secret,
// and the timestamp is within tolerance of now. It is what the README's snippet shows, and
// what the tests receive with.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp: %w", err)
	}
	at := time.Unix(sec, 0)
	if d := now.Sub(at); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook-timestamp %d is more than %s away", sec, tolerance)
	}
	want, err := Sign(secret, h.Get(HeaderID), at, body)
	if err != nil {
		return err
	}
	for _, got := range strings.Fields(h.Get(HeaderSignature)) {
		if hmac.Equal([]byte(got), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no webhook-signature matches")
}
