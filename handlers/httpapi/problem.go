package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/domain/fault"
	"github.com/shopflow/orders/domain/inventory"
	"github.com/shopflow/orders/domain/order"
)

// Problem is an RFC 9457 problem document. Errors names each field that broke a rule.
type Problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail,omitempty"`
	Errors []order.FieldError  `json:"-"`
	Fields []problemFieldError `json:"errors,omitempty"`
}

type problemFieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// statusError carries an HTTP status decided at the edge (413, 415) through writeError.
type statusError struct {
	status int
	field  string
	detail string
}

func (e *statusError) Error() string { return e.field + ": " + e.detail }

// retryAfterSeconds is what a 503 asks clients to wait before retrying.
const retryAfterSeconds = "1"

// writeError is the one place where errors become HTTP answers. Internal details go to the
// log, never to the client.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var se *statusError
	var ve *order.ValidationError
	var rl *rateLimited
	switch {
	case errors.Is(err, access.ErrUnauthenticated):
		writeProblem(w, Problem{Status: http.StatusUnauthorized, Detail: "a valid API key is required: Authorization: Bearer <key>"})
	case errors.Is(err, access.ErrForbidden):
		writeProblem(w, Problem{Status: http.StatusForbidden, Detail: "this API key's role may not use this route"})
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(rl.wait)))
		writeProblem(w, Problem{Status: http.StatusTooManyRequests, Detail: "rate limit exceeded for this API key"})
	case errors.As(err, &se):
		writeProblem(w, Problem{Status: se.status, Detail: se.field + " " + se.detail,
			Errors: []order.FieldError{{Field: se.field, Detail: se.detail}}})
	case errors.As(err, &ve):
		writeProblem(w, Problem{Status: http.StatusUnprocessableEntity, Detail: ve.Error(), Errors: ve.Fields})
	case errors.Is(err, order.ErrNotFound), errors.Is(err, inventory.ErrNotFound):
		writeProblem(w, Problem{Status: http.StatusNotFound, Detail: "no such resource"})
	case errors.Is(err, order.ErrSettled):
		writeProblem(w, Problem{Status: http.StatusConflict, Detail: err.Error()})
	case errors.Is(err, inventory.ErrBelowReserved):
		writeProblem(w, Problem{Status: http.StatusConflict,
			Detail: "on_hand cannot go below the units reserved for orders in flight",
			Errors: []order.FieldError{{Field: "on_hand", Detail: "is below reserved"}}})
	case errors.Is(err, fault.ErrUnavailable):
		log.WarnContext(r.Context(), "dependency unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", retryAfterSeconds)
		writeProblem(w, Problem{Status: http.StatusServiceUnavailable, Detail: "the service cannot take this request now; retry with the same Idempotency-Key"})
	default:
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeProblem(w, Problem{Status: http.StatusInternalServerError, Detail: "internal error"})
	}
}

func writeProblem(w http.ResponseWriter, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	for _, f := range p.Errors {
		p.Fields = append(p.Fields, problemFieldError(f))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p) // the client may be gone; nothing left to tell it
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing left to tell it
}
