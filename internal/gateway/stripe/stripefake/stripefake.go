// Package stripefake is a Stripe-compatible HTTP server for tests, on a loopback port: the
// endpoints the Stripe gateway calls, with Stripe's idempotency layer (a key replays its first
// result, with the header Idempotent-Replayed: true, and is refused with an idempotency_error
// when it comes back with other parameters) and a search index that lags behind writes, as
// Stripe's does by up to an hour during incidents. stripe-mock validates requests but keeps no
// state, so it can show neither; this server can, and can also lose the answer to a request it
// carried out, as a timeout or a cut connection does.
package stripefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The PaymentIntent statuses the server uses.
const (
	StatusRequiresPaymentMethod = "requires_payment_method"
	StatusRequiresCapture       = "requires_capture"
	StatusSucceeded             = "succeeded"
	StatusCanceled              = "canceled"
)

// TokenDeclined is the test token whose confirmation is declined (card_declined).
const TokenDeclined = "tok_chargeDeclined"

// Server is the fake. It is safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu           sync.Mutex
	lag          time.Duration
	loseConfirms bool
	seq          int
	intents      map[string]*intent
	order        []string // intent ids in creation order
	saved        map[string]saved
	pms          map[string]string // PaymentMethod id -> token
	refunded     map[string]bool
	mismatches   int // idempotency_error answers
}

// intent is one PaymentIntent.
type intent struct {
	ID            string            `json:"id"`
	Object        string            `json:"object"`
	Amount        int64             `json:"amount"`
	Currency      string            `json:"currency"`
	Status        string            `json:"status"`
	CaptureMethod string            `json:"capture_method"`
	PaymentMethod string            `json:"payment_method,omitempty"`
	Metadata      map[string]string `json:"metadata"`
	Created       int64             `json:"created"`

	createdAt time.Time
}

// saved is the first result of an idempotency key.
type saved struct {
	route, params string
	status        int
	body          []byte
	confirm       bool // a confirming PaymentIntent creation, whose answer LoseConfirms loses
}

// New starts a server whose search sees a PaymentIntent only searchLag after its creation; it
// is closed when the test ends.
func New(t interface{ Cleanup(func()) }, searchLag time.Duration) *Server {
	s := &Server{lag: searchLag, intents: map[string]*intent{}, saved: map[string]saved{},
		pms: map[string]string{}, refunded: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/payment_methods", s.idempotent(s.createPaymentMethod))
	mux.HandleFunc("POST /v1/payment_intents", s.idempotent(s.createIntent))
	mux.HandleFunc("GET /v1/payment_intents/search", s.search)
	mux.HandleFunc("GET /v1/payment_intents/{id}", s.retrieve)
	mux.HandleFunc("POST /v1/payment_intents/{id}/capture", s.idempotent(s.capture))
	mux.HandleFunc("POST /v1/payment_intents/{id}/cancel", s.idempotent(s.cancel))
	mux.HandleFunc("POST /v1/refunds", s.idempotent(s.refund))
	s.srv = httptest.NewServer(mux) // httptest listens on 127.0.0.1
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the server's base URL, for stripe.Config.BaseURL.
func (s *Server) URL() string { return s.srv.URL }

// LoseConfirms makes the server carry out every confirming PaymentIntent creation and then
// cut the connection in the middle of its answer, while on: the caller cannot know whether it
// holds funds. Replays of such a creation are lost too while it is on.
func (s *Server) LoseConfirms(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseConfirms = on
}

// CatchUp makes the search index see every PaymentIntent made so far.
func (s *Server) CatchUp() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range s.intents {
		in.createdAt = in.createdAt.Add(-s.lag)
	}
}

// IdempotencyErrors is how many requests reused a key with other parameters, and were
// refused.
func (s *Server) IdempotencyErrors() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mismatches
}

// Intent is what a test sees of a PaymentIntent.
type Intent struct {
	ID, Status, OrderID string
	Amount              int64
}

// Intents returns the PaymentIntents of orderID (all of them when it is empty), oldest first.
func (s *Server) Intents(orderID string) []Intent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Intent
	for _, id := range s.order {
		in := s.intents[id]
		if orderID == "" || in.Metadata["order_id"] == orderID {
			out = append(out, Intent{ID: in.ID, Status: in.Status, OrderID: in.Metadata["order_id"], Amount: in.Amount})
		}
	}
	return out
}

// Holds returns the PaymentIntents of orderID (all when empty) that hold funds.
func (s *Server) Holds(orderID string) []Intent {
	var held []Intent
	for _, in := range s.Intents(orderID) {
		if in.Status == StatusRequiresCapture {
			held = append(held, in)
		}
	}
	return held
}

// answer is a handler's result, which idempotent saves.
type answer struct {
	status int
	body   any
	lose   bool // carried out, but the connection is cut instead of answering
}

// idempotent runs fn under Stripe's idempotency rules for the request's Idempotency-Key.
func (s *Server) idempotent(fn func(r *http.Request, form url.Values) answer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, apiError("invalid_request_error", "", "", err.Error()))
			return
		}
		route, params, key := r.Method+" "+r.URL.Path, r.PostForm.Encode(), r.Header.Get("Idempotency-Key")
		s.mu.Lock()
		if prev, ok := s.saved[key]; ok && key != "" {
			mismatch := prev.route != route || prev.params != params
			if mismatch {
				s.mismatches++
			}
			lose := s.loseConfirms && prev.confirm
			s.mu.Unlock()
			switch {
			case mismatch:
				writeJSON(w, http.StatusBadRequest, apiError("idempotency_error", "", "",
					"Keys for idempotent requests can only be used with the same parameters they were first used with."))
				return
			case lose:
				cut(w)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(prev.status)
			_, _ = w.Write(prev.body)
			return
		}
		a := fn(r, r.PostForm) // runs under s.mu: one request at a time, as a key's lock would
		body, err := json.Marshal(a.body)
		if err != nil {
			s.mu.Unlock()
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// Like Stripe, a request refused by validation (400) leaves the key unused.
		if key != "" && a.status != http.StatusBadRequest {
			s.saved[key] = saved{route: route, params: params, status: a.status, body: body,
				confirm: route == "POST /v1/payment_intents" && r.PostForm.Get("confirm") == "true"}
		}
		s.mu.Unlock()
		if a.lose {
			cut(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write(body)
	}
}

// cut answers the start of a response and closes the connection: the client reads an
// unexpected EOF. (Closing before any answer would not do: Go's HTTP client replays a request
// that carries an Idempotency-Key when a reused connection closes without a word.)
func cut(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("stripefake: the connection cannot be hijacked")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return // the client is gone already: nothing was answered either way
	}
	defer conn.Close()
	_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"id\":")
	_ = buf.Flush() // errors mean the client saw even less
}

func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s_fake%06d", prefix, s.seq)
}

func (s *Server) createPaymentMethod(_ *http.Request, form url.Values) answer {
	token := form.Get("card[token]")
	if form.Get("type") != "card" || token == "" {
		return answer{status: http.StatusBadRequest, body: apiError("invalid_request_error", "parameter_missing", "card[token]", "A card token is required.")}
	}
	id := s.nextID("pm")
	s.pms[id] = token
	return answer{status: http.StatusOK, body: map[string]any{"id": id, "object": "payment_method", "type": "card"}}
}

func (s *Server) createIntent(_ *http.Request, form url.Values) answer {
	amount, err := strconv.ParseInt(form.Get("amount"), 10, 64)
	switch {
	case err != nil || amount < 1:
		return answer{status: http.StatusBadRequest, body: apiError("invalid_request_error", "parameter_invalid_integer", "amount", "This value must be greater than or equal to 1.")}
	case amount < 50:
		return answer{status: http.StatusBadRequest, body: apiError("invalid_request_error", "amount_too_small", "amount", "Amount must be at least 50 cents.")}
	case amount > 99_999_999:
		return answer{status: http.StatusBadRequest, body: apiError("invalid_request_error", "amount_too_large", "amount", "Amount must be no more than 999,999.99.")}
	}
	in := &intent{ID: s.nextID("pi"), Object: "payment_intent", Amount: amount, Currency: form.Get("currency"),
		Status: StatusRequiresPaymentMethod, CaptureMethod: form.Get("capture_method"),
		PaymentMethod: form.Get("payment_method"), Metadata: metadata(form), createdAt: time.Now()}
	in.Created = in.createdAt.Unix()
	s.intents[in.ID] = in
	s.order = append(s.order, in.ID)
	if form.Get("confirm") != "true" {
		return answer{status: http.StatusOK, body: in}
	}
	token, ok := s.pms[in.PaymentMethod]
	if !ok {
		return answer{status: http.StatusBadRequest, body: apiError("invalid_request_error", "resource_missing", "payment_method", "No such PaymentMethod.")}
	}
	if token == TokenDeclined {
		e := apiError("card_error", "card_declined", "", "Your card was declined.")
		e["error"]["decline_code"] = "generic_decline"
		return answer{status: http.StatusPaymentRequired, body: e, lose: s.loseConfirms}
	}
	in.Status = StatusRequiresCapture
	copied := *in
	return answer{status: http.StatusOK, body: &copied, lose: s.loseConfirms}
}

func metadata(form url.Values) map[string]string {
	md := map[string]string{}
	for k, v := range form {
		if name, ok := strings.CutPrefix(k, "metadata["); ok && strings.HasSuffix(name, "]") && len(v) > 0 {
			md[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	return md
}

// transition moves the PaymentIntent of the request's path from one of from to to.
func (s *Server) transition(r *http.Request, to string, from ...string) answer {
	in, ok := s.intents[r.PathValue("id")]
	if !ok {
		return answer{status: http.StatusNotFound, body: apiError("invalid_request_error", "resource_missing", "intent", "No such payment_intent.")}
	}
	for _, f := range from {
		if in.Status == f {
			in.Status = to
			copied := *in
			return answer{status: http.StatusOK, body: &copied}
		}
	}
	return answer{status: http.StatusBadRequest, body: apiError("invalid_request_error", "payment_intent_unexpected_state", "",
		"This PaymentIntent's status is "+in.Status+".")}
}

func (s *Server) capture(r *http.Request, _ url.Values) answer {
	return s.transition(r, StatusSucceeded, StatusRequiresCapture)
}

func (s *Server) cancel(r *http.Request, _ url.Values) answer {
	return s.transition(r, StatusCanceled, StatusRequiresCapture, StatusRequiresPaymentMethod)
}

func (s *Server) refund(_ *http.Request, form url.Values) answer {
	id := form.Get("payment_intent")
	in, ok := s.intents[id]
	switch {
	case !ok:
		return answer{status: http.StatusBadRequest, body: apiError("invalid_request_error", "resource_missing", "payment_intent", "No such payment_intent.")}
	case s.refunded[id]:
		return answer{status: http.StatusBadRequest, body: apiError("invalid_request_error", "charge_already_refunded", "", "Already refunded.")}
	case in.Status != StatusSucceeded:
		return answer{status: http.StatusBadRequest, body: apiError("invalid_request_error", "charge_not_refundable", "", "Nothing captured to refund.")}
	}
	s.refunded[id] = true
	return answer{status: http.StatusOK, body: map[string]any{"id": s.nextID("re"), "object": "refund",
		"status": "succeeded", "amount": in.Amount, "payment_intent": id}}
}

func (s *Server) retrieve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	in, ok := s.intents[r.PathValue("id")]
	var copied intent
	if ok {
		copied = *in
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, apiError("invalid_request_error", "resource_missing", "intent", "No such payment_intent."))
		return
	}
	writeJSON(w, http.StatusOK, &copied)
}

// term is one metadata['k']:'v' clause of a search query.
var term = regexp.MustCompile(`metadata\['([^']*)'\]:'((?:[^'\\]|\\.)*)'`)

// search answers the metadata clauses of the query (joined by AND) from the PaymentIntents
// created at least the lag ago: the index has not seen younger ones yet.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	want := map[string]string{}
	for _, m := range term.FindAllStringSubmatch(r.URL.Query().Get("query"), -1) {
		want[m[1]] = strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(m[2])
	}
	s.mu.Lock()
	data := []intent{}
	for _, id := range s.order {
		in := s.intents[id]
		if time.Since(in.createdAt) >= s.lag && matches(in.Metadata, want) {
			data = append(data, *in)
		}
	}
	s.mu.Unlock()
	sort.SliceStable(data, func(i, j int) bool { return data[i].Created > data[j].Created }) // newest first
	writeJSON(w, http.StatusOK, map[string]any{"object": "search_result", "data": data,
		"has_more": false, "url": "/v1/payment_intents/search"})
}

func matches(md, want map[string]string) bool {
	if len(want) == 0 {
		return false
	}
	for k, v := range want {
		if md[k] != v {
			return false
		}
	}
	return true
}

func apiError(typ, code, param, msg string) map[string]map[string]string {
	return map[string]map[string]string{"error": {"type": typ, "code": code, "param": param, "message": msg}}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // a client gone is the test's to notice
}
