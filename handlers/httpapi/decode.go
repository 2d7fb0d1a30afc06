package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// maxBodyBytes bounds a request body: a 100-line order is about 10 KiB.
const maxBodyBytes = 64 << 10

// decodeJSON reads exactly one JSON object into dst. Every failure is a *statusError naming
// the field, or "body" when the problem is the body as a whole.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &statusError{status: http.StatusUnsupportedMediaType, field: "Content-Type", detail: "must be application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return decodeError(err)
		}
		return &statusError{status: http.StatusBadRequest, field: "body", detail: "must hold a single JSON object"}
	}
	return nil
}

func decodeError(err error) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return &statusError{status: http.StatusRequestEntityTooLarge, field: "body", detail: fmt.Sprintf("must be at most %d bytes", maxBodyBytes)}
	case errors.As(err, &syntax):
		return &statusError{status: http.StatusBadRequest, field: "body", detail: fmt.Sprintf("is not valid JSON (at byte %d)", syntax.Offset)}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return &statusError{status: http.StatusBadRequest, field: field, detail: "must be a JSON " + jsonKind(typ.Type.Kind().String())}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &statusError{status: http.StatusBadRequest, field: "body", detail: "is empty or cut short"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for this one; its message is stable since Go 1.10.
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &statusError{status: http.StatusBadRequest, field: name, detail: "is not a known field"}
	default:
		return &statusError{status: http.StatusBadRequest, field: "body", detail: "cannot be read as the expected JSON object"}
	}
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"), strings.HasPrefix(goKind, "float"):
		return "number (integer)"
	case goKind == "slice":
		return "array"
	case goKind == "struct", goKind == "map":
		return "object"
	default:
		return goKind
	}
}
