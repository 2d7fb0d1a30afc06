// Package order holds the order aggregate: its validation rules, its lifecycle and the events
// each transition records. It knows nothing of storage or transport.
package order

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors callers compare with errors.Is.
var (
	// ErrInvalid marks input that breaks a rule; the concrete error is a *ValidationError.
	ErrInvalid = errors.New("order: invalid")
	// ErrNotFound is returned when no order has the requested id (or the caller may not see it).
	ErrNotFound = errors.New("order: not found")
	// ErrInvalidTransition is returned when a transition is not allowed from the current status.
	ErrInvalidTransition = errors.New("order: invalid transition")
	// ErrSettled is returned for a request that a settled order cannot take (a cancel).
	ErrSettled = errors.New("order: already settled")
)

// FieldError names one field that broke a rule and says which rule.
type FieldError struct {
	Field  string // JSON path as the client sent it, e.g. "lines[2].quantity"
	Detail string
}

// ValidationError collects every field error found, so a client can fix them all at once.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Detail
	}
	return "order: invalid: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true for every *ValidationError.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// validator accumulates field errors.
type validator struct{ fields []FieldError }

func (v *validator) add(field, format string, args ...any) {
	v.fields = append(v.fields, FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.fields}
}

// Invalid builds a *ValidationError for a single field; adapters use it for rules that live at
// their edge (a missing header, a malformed body) so that every validation problem has one shape.
func Invalid(field, detail string) error {
	return &ValidationError{Fields: []FieldError{{Field: field, Detail: detail}}}
}
