// Command webhook-receiver is the development receiver of the README ("Receiving webhooks"):
// it verifies each delivery's Standard Webhooks signature with -secret and prints it. Its
// verify function is the README's snippet, standard library only, as a storefront would
// write it.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "address to listen on")
	secret := flag.String("secret", "", "the endpoint's secret (whsec_…), as POST /v1/webhooks answered it")
	flag.Parse()
	http.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			err = verify(*secret, r.Header, body, time.Now())
		}
		if err != nil {
			log.Printf("refused: %v", err)
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		log.Printf("%s %s", r.Header.Get("webhook-id"), body)
		w.WriteHeader(http.StatusNoContent)
	})
	log.Printf("listening on http://%s", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}

// verify checks a delivery: a webhook-signature that is the HMAC-SHA256, keyed by the
// secret's base64 part, of "<webhook-id>.<webhook-timestamp>.<body>", and a timestamp within
// five minutes (replays of old deliveries are refused). Deduplicate on webhook-id, and drop
// an event whose data.version is below the last one seen for its order.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if err != nil || math.Abs(float64(now.Unix()-ts)) > 300 {
		return errors.New("webhook-timestamp missing or more than 5 minutes away")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) { // several during a rotation
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no signature matches")
}
