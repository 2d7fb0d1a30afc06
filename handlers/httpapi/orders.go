package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/domain/order"
	"github.com/shopflow/orders/events"
)

// ingestTimeout bounds the JetStream work of one POST /v1/orders.
const ingestTimeout = 3 * time.Second

// ingestAttempt bounds one try within ingestTimeout. A write sent to a stream whose leader has
// just died gets no answer at all (the followers ignore it), so without a bound per try a
// request would wait out the whole budget even when a new leader was elected a moment after it
// was sent; with it, the next try reaches the new leader within a second of the election.
// Every try is idempotent (the same claim, the same command id), so a try that did land and
// only lost its ack is absorbed by the next.
const ingestAttempt = time.Second

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 255

type orderRequest struct {
	CustomerID string        `json:"customer_id"`
	Currency   string        `json:"currency"`
	Lines      []lineJSON    `json:"lines"`
	Payment    paymentFields `json:"payment"`
}

type lineJSON struct {
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
}

type paymentFields struct {
	Token string `json:"token"`
}

type acceptedJSON struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	AcceptedAt time.Time `json:"accepted_at"`
}

// postOrder accepts an order: validate, claim the Idempotency-Key, store the PlaceOrder
// command in JetStream, answer 202. Every caller of one key (the first and every replay,
// concurrent or not) publishes the same command id: JetStream's dedup and the worker's
// inbox keep one, and no caller gets a 202 before the command is stored.
func (a *API) postOrder(w http.ResponseWriter, r *http.Request, p access.Principal) {
	key := r.Header.Get("Idempotency-Key")
	if err := checkIdempotencyKey(key); err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	var req orderRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	params := req.params(p.Storefront)
	if err := order.Validate(params); err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	// JetStream answers in milliseconds when healthy; past this budget the client is better
	// served by a 503 it can retry than by a request hanging on a server that went away.
	ctx, cancel := context.WithTimeout(r.Context(), ingestTimeout)
	defer cancel()
	claim := events.IdempotencyRecordV1{RequestHash: requestHash(req), OrderID: newOrderID(), AcceptedAt: a.d.Now().UTC()}
	var held events.IdempotencyRecordV1
	correlation := correlationID(r) // once: every try stores the same command
	err := retryUnavailable(ctx, ingestAttempt, func(ctx context.Context) error {
		var err error
		held, err = a.accept(ctx, key, params, claim, correlation)
		return err
	})
	if err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	w.Header().Set("Location", "/v1/orders/"+held.OrderID)
	writeJSON(w, http.StatusAccepted, acceptedJSON{ID: held.OrderID, Status: string(order.StatusPending), AcceptedAt: held.AcceptedAt})
}

// accept claims the Idempotency-Key for claim and stores the command of the order that holds
// it. A second call with the same arguments changes nothing more than the first: the claim
// finds its own record, and the command's id dedups it.
func (a *API) accept(ctx context.Context, key string, params order.PlaceParams, claim events.IdempotencyRecordV1, correlation string) (events.IdempotencyRecordV1, error) {
	held, err := a.d.Intake.Accept(ctx, events.Acceptance{Scope: params.Storefront, Key: key, Claim: claim,
		Command: func(held events.IdempotencyRecordV1) (events.Envelope, events.PlaceOrderV1, error) {
			p := params
			p.ID, p.AcceptedAt = held.OrderID, held.AcceptedAt
			return placeOrder(p, correlation)
		}})
	if err == nil && held.RequestHash != claim.RequestHash {
		err = order.Invalid("Idempotency-Key", "was already used with a different request body")
	}
	return held, err
}

// retryUnavailable runs try, each time bounded by attempt, until it succeeds, fails otherwise
// than fault.ErrUnavailable, or ctx (the whole budget) runs out. try must be idempotent.
func retryUnavailable(ctx context.Context, attempt time.Duration, try func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := try(actx)
		cancel()
		if err == nil || !errors.Is(err, fault.ErrUnavailable) || ctx.Err() != nil {
			return err
		}
		select { // an error that came at once (no responders while a leader is elected) waits a little
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// placeOrder is the PlaceOrder command of p, and the order as the client sent it, which the
// ingest keeps readable by order id: every order a client was answered for can be read from
// then on, as pending until the intake has it.
func placeOrder(p order.PlaceParams, correlation string) (events.Envelope, events.PlaceOrderV1, error) {
	lines := make([]events.LineV1, len(p.Lines))
	for i, l := range p.Lines {
		lines[i] = events.LineV1(l)
	}
	rec := events.PlaceOrderV1{OrderID: p.ID, Storefront: p.Storefront, CustomerID: p.CustomerID,
		Currency: p.Currency, Lines: lines, AcceptedAt: p.AcceptedAt.UTC()}
	cmd, err := events.NewPlaceOrder(p, correlation)
	return cmd, rec, err
}

func (req orderRequest) params(storefront string) order.PlaceParams {
	lines := make([]order.Line, len(req.Lines))
	for i, l := range req.Lines {
		lines[i] = order.Line(l)
	}
	return order.PlaceParams{
		Storefront: storefront, CustomerID: req.CustomerID, Currency: req.Currency,
		Lines: lines, PaymentToken: req.Payment.Token,
	}
}

func checkIdempotencyKey(key string) error {
	if key == "" {
		return &statusError{status: http.StatusBadRequest, field: "Idempotency-Key", detail: "header is required"}
	}
	if len(key) > maxIdempotencyKey {
		return &statusError{status: http.StatusBadRequest, field: "Idempotency-Key", detail: "must be at most 255 characters"}
	}
	for _, c := range []byte(key) {
		if c < 0x21 || c > 0x7e {
			return &statusError{status: http.StatusBadRequest, field: "Idempotency-Key", detail: "must be printable ASCII without spaces"}
		}
	}
	return nil
}

// requestHash fingerprints the decoded request, so whitespace and key order do not make two
// equal orders differ.
func requestHash(req orderRequest) string {
	b, _ := json.Marshal(req) // plain structs of strings and integers always encode
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// newOrderID returns a time-ordered UUID (v7), which keeps the orders index append-mostly.
func newOrderID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// correlationID takes the caller's X-Correlation-Id when it is sane, or makes one.
func correlationID(r *http.Request) string {
	if c := r.Header.Get("X-Correlation-Id"); c != "" && len(c) <= 64 && checkIdempotencyKey(c) == nil {
		return c
	}
	return uuid.NewString()
}

type orderJSON struct {
	ID         string       `json:"id"`
	Status     string       `json:"status"`
	Version    int          `json:"version"`
	CustomerID string       `json:"customer_id"`
	Currency   string       `json:"currency"`
	Total      int64        `json:"total"`
	Lines      []lineJSON   `json:"lines"`
	History    []changeJSON `json:"history"`
	AcceptedAt time.Time    `json:"accepted_at"`
	// TraceID is shown to admins only: the trace of the order's intake, for an operator to
	// open (see README, "One order's trace").
	TraceID string `json:"trace_id,omitempty"`
}

type changeJSON struct {
	Version int       `json:"version"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// getOrder answers from the read side; an order it has not projected yet (milliseconds after
// a change) is read from the write side, and one the intake has not taken in yet from the copy
// of its command in JetStream, as pending. So a client never gets a 404 for an order it was
// told exists. While PostgreSQL is down the answer is 503: the copy cannot tell whether the
// order has moved on meanwhile, and a stale pending would send a client backwards.
func (a *API) getOrder(w http.ResponseWriter, r *http.Request, p access.Principal) {
	o, err := a.visibleOrder(r, p, a.d.Orders.GetProjectedOrder)
	if errors.Is(err, order.ErrNotFound) {
		o, err = a.visibleOrder(r, p, a.d.Orders.GetOrder)
	}
	if errors.Is(err, order.ErrNotFound) {
		// Not taken in yet: the command JetStream stored answers.
		if pending, perr := a.visibleOrder(r, p, a.acceptedOrder); perr == nil || !errors.Is(perr, order.ErrNotFound) {
			o, err = pending, perr
		}
	}
	if err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	out := toOrderJSON(o)
	if p.Role == access.RoleAdmin {
		out.TraceID = a.traceID(r.Context(), o.ID())
	}
	writeJSON(w, http.StatusOK, out)
}

// traceID is the order's trace id, or "" when it has none or it cannot be read: a missing
// link to a trace is no reason to fail the read (a pending order has no row yet).
func (a *API) traceID(ctx context.Context, id string) string {
	tid, err := a.d.Orders.OrderTraceID(ctx, id)
	if err != nil && !errors.Is(err, order.ErrNotFound) {
		a.d.Log.WarnContext(ctx, "order trace id unreadable", "order_id", id, "err", err)
	}
	return tid
}

func toOrderJSON(o *order.Order) orderJSON {
	out := orderJSON{
		ID: o.ID(), Status: string(o.Status()), Version: o.Version(), CustomerID: o.CustomerID(), Currency: o.Currency(),
		Total: o.Total(), AcceptedAt: o.AcceptedAt().UTC(),
	}
	for _, l := range o.Lines() {
		out.Lines = append(out.Lines, lineJSON(l))
	}
	for _, c := range o.History() {
		out.History = append(out.History, changeJSON{Version: c.Version, Status: string(c.Status), Reason: c.Reason, At: c.At.UTC()})
	}
	return out
}

// acceptedOrder is the order the API accepted under id, as pending, from the copy of its
// command stored at ingest; an error wrapping order.ErrNotFound when there is none.
func (a *API) acceptedOrder(ctx context.Context, id string) (*order.Order, error) {
	cmd, found, err := a.d.Intake.Accepted(ctx, id)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("accepted order %s: %w", id, order.ErrNotFound)
	}
	lines := make([]order.Line, len(cmd.Lines))
	for i, l := range cmd.Lines {
		lines[i] = order.Line(l)
	}
	p := order.PlaceParams{ID: cmd.OrderID, Storefront: cmd.Storefront, CustomerID: cmd.CustomerID,
		Currency: cmd.Currency, Lines: lines, AcceptedAt: cmd.AcceptedAt}
	return order.Rehydrate(p, order.StatusPending, "", []order.Change{{Version: 1, Status: order.StatusPending, At: cmd.AcceptedAt}}), nil
}
