package httpapi

import (
	"bytes"
	"cmp"
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return decodeError(err, nil)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, body)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return &statusError{status: http.StatusBadRequest, field: "body", detail: "must hold a single JSON object"}
	}
	return nil
}

func decodeError(err error, body []byte) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return &statusError{status: http.StatusRequestEntityTooLarge, field: "body", detail: fmt.Sprintf("must be at most %d bytes", maxBodyBytes)}
	case errors.As(err, &syntax):
		return &statusError{status: http.StatusBadRequest, field: "body", detail: fmt.Sprintf("is not valid JSON (at byte %d)", syntax.Offset)}
	case errors.As(err, &typ):
		// typ.Field leaves out array indexes ("lines.quantity"); the path at its offset has
		// them, like the validation errors ("lines[0].quantity").
		field := cmp.Or(fieldAt(body, typ.Offset), typ.Field, "body")
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

// fieldAt names the JSON value in data that an *json.UnmarshalTypeError's offset points at,
// as a path such as "lines[1].quantity": encoding/json reports the offset just after a
// scalar and just after the opening delimiter of an object or array. It returns "" for the
// top-level value, or when data does not parse up to offset.
func fieldAt(data []byte, offset int64) string {
	type frame struct {
		array  bool
		index  int    // arrays: the element being read
		key    string // objects: the member being read
		keyDue bool   // objects: the next token is a key
	}
	var stack []*frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.array {
				fmt.Fprintf(&b, "[%d]", f.index)
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		}
		return b.String()
	}
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		if top := stack[len(stack)-1]; top.array {
			top.index++
		} else {
			top.keyDue = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		after := dec.InputOffset()
		delim, isDelim := tok.(json.Delim)
		switch {
		case isDelim && (delim == '}' || delim == ']'):
			stack = stack[:len(stack)-1]
			valueDone()
		case len(stack) > 0 && stack[len(stack)-1].keyDue:
			top := stack[len(stack)-1]
			top.key, _ = tok.(string)
			top.keyDue = false
		case isDelim: // an object or array opens as a value
			if offset == after {
				return path()
			}
			stack = append(stack, &frame{array: delim == '[', keyDue: delim == '{'})
		default: // a scalar value
			if offset > before && offset <= after {
				return path()
			}
			valueDone()
		}
	}
}
