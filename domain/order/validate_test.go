package order_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopflow/orders/domain/order"
)

var placedAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// validParams returns an order that passes every rule, with three lines.
func validParams(t testing.TB) order.PlaceParams {
	t.Helper()
	return order.PlaceParams{
		ID:           "0195a0c4-6c1e-7d2a-9b7e-3f1d2c4b5a69",
		Storefront:   "default",
		CustomerID:   "c-42",
		Currency:     "EUR",
		PaymentToken: "tok_visa",
		AcceptedAt:   placedAt,
		Lines: []order.Line{
			{SKU: "SKU-1", Quantity: 2, UnitPrice: 1999},
			{SKU: "sku_2.b", Quantity: 1, UnitPrice: 0},
			{SKU: "SKU-3", Quantity: 5, UnitPrice: 250},
		},
	}
}

// fieldsOf asserts err is a *ValidationError (and errors.Is ErrInvalid) and returns the
// fields it names, in order.
func fieldsOf(t testing.TB, err error) []string {
	t.Helper()
	if !errors.Is(err, order.ErrInvalid) {
		t.Fatalf("err = %v, want errors.Is(err, order.ErrInvalid)", err)
	}
	var ve *order.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %T %v, want *order.ValidationError", err, err)
	}
	fields := make([]string, len(ve.Fields))
	for i, f := range ve.Fields {
		if f.Detail == "" {
			t.Errorf("field %s has no detail", f.Field)
		}
		fields[i] = f.Field
	}
	return fields
}

func manyLines(n int) []order.Line {
	lines := make([]order.Line, n)
	for i := range lines {
		lines[i] = order.Line{SKU: fmt.Sprintf("SKU-%03d", i), Quantity: 1, UnitPrice: 100}
	}
	return lines
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(p *order.PlaceParams)
		want   []string
	}{
		{"missing customer_id", func(p *order.PlaceParams) { p.CustomerID = "" }, []string{"customer_id"}},
		{"oversized customer_id", func(p *order.PlaceParams) { p.CustomerID = strings.Repeat("c", order.MaxIDLength+1) }, []string{"customer_id"}},
		{"customer_id with newline", func(p *order.PlaceParams) { p.CustomerID = "c-42\nadmin" }, []string{"customer_id"}},
		{"customer_id with DEL", func(p *order.PlaceParams) { p.CustomerID = "c-42\x7f" }, []string{"customer_id"}},
		{"customer_id not UTF-8", func(p *order.PlaceParams) { p.CustomerID = "c-\xff" }, []string{"customer_id"}},
		{"missing currency", func(p *order.PlaceParams) { p.Currency = "" }, []string{"currency"}},
		{"unknown currency", func(p *order.PlaceParams) { p.Currency = "XYZ" }, []string{"currency"}},
		{"lower-case currency", func(p *order.PlaceParams) { p.Currency = "eur" }, []string{"currency"}},
		{"withdrawn currency", func(p *order.PlaceParams) { p.Currency = "DEM" }, []string{"currency"}},
		{"missing payment token", func(p *order.PlaceParams) { p.PaymentToken = "" }, []string{"payment.token"}},
		{"oversized payment token", func(p *order.PlaceParams) { p.PaymentToken = strings.Repeat("t", order.MaxTokenLength+1) }, []string{"payment.token"}},
		{"payment token with tab", func(p *order.PlaceParams) { p.PaymentToken = "tok\tvisa" }, []string{"payment.token"}},
		{"no lines", func(p *order.PlaceParams) { p.Lines = nil }, []string{"lines"}},
		{"101 lines", func(p *order.PlaceParams) { p.Lines = manyLines(order.MaxLines + 1) }, []string{"lines"}},
		{"sku with space", func(p *order.PlaceParams) { p.Lines[1].SKU = "SKU 2" }, []string{"lines[1].sku"}},
		{"sku with slash", func(p *order.PlaceParams) { p.Lines[0].SKU = "SKU/1" }, []string{"lines[0].sku"}},
		{"sku not ASCII", func(p *order.PlaceParams) { p.Lines[2].SKU = "SKÜ-3" }, []string{"lines[2].sku"}},
		{"empty sku", func(p *order.PlaceParams) { p.Lines[2].SKU = "" }, []string{"lines[2].sku"}},
		{"oversized sku", func(p *order.PlaceParams) { p.Lines[0].SKU = strings.Repeat("S", 65) }, []string{"lines[0].sku"}},
		{"duplicate sku", func(p *order.PlaceParams) { p.Lines[2].SKU = p.Lines[0].SKU }, []string{"lines[2].sku"}},
		{"quantity 0", func(p *order.PlaceParams) { p.Lines[2].Quantity = 0 }, []string{"lines[2].quantity"}},
		{"quantity -1", func(p *order.PlaceParams) { p.Lines[0].Quantity = -1 }, []string{"lines[0].quantity"}},
		{"quantity 10001", func(p *order.PlaceParams) { p.Lines[1].Quantity = order.MaxQuantity + 1 }, []string{"lines[1].quantity"}},
		{"unit_price -1", func(p *order.PlaceParams) { p.Lines[1].UnitPrice = -1 }, []string{"lines[1].unit_price"}},
		{"unit_price over the max", func(p *order.PlaceParams) { p.Lines[2].UnitPrice = order.MaxUnitPrice + 1 }, []string{"lines[2].unit_price"}},
		// A gateway refuses to hold nothing: an order with nothing to pay would never settle.
		{"total 0", func(p *order.PlaceParams) {
			for i := range p.Lines {
				p.Lines[i].UnitPrice = 0
			}
		}, []string{"lines"}},
		{"several errors at once", func(p *order.PlaceParams) {
			p.CustomerID, p.Currency, p.PaymentToken = "", "usd", ""
			p.Lines[0].Quantity, p.Lines[1].UnitPrice, p.Lines[2].SKU = 0, -5, "bad sku"
		}, []string{"customer_id", "currency", "payment.token", "lines[0].quantity", "lines[1].unit_price", "lines[2].sku"}},
		{"every rule of one line", func(p *order.PlaceParams) {
			p.Lines[1] = order.Line{SKU: "", Quantity: -1, UnitPrice: -1}
		}, []string{"lines[1].sku", "lines[1].quantity", "lines[1].unit_price"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := validParams(t)
			tc.mutate(&p)
			got := fieldsOf(t, order.Validate(p))
			if !slices.Equal(got, tc.want) {
				t.Errorf("Validate fields = %q, want %q", got, tc.want)
			}
			o, err := order.Place(p)
			if o != nil {
				t.Errorf("Place returned an order for invalid input")
			}
			if got := fieldsOf(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("Place fields = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(p *order.PlaceParams)
	}{
		{"valid order", func(*order.PlaceParams) {}},
		{"customer_id at the limit", func(p *order.PlaceParams) { p.CustomerID = strings.Repeat("c", order.MaxIDLength) }},
		{"customer_id with non-ASCII letters", func(p *order.PlaceParams) { p.CustomerID = "kunde-müller" }},
		{"payment token at the limit", func(p *order.PlaceParams) { p.PaymentToken = strings.Repeat("t", order.MaxTokenLength) }},
		{"one line", func(p *order.PlaceParams) { p.Lines = p.Lines[:1] }},
		{"100 lines", func(p *order.PlaceParams) { p.Lines = manyLines(order.MaxLines) }},
		{"sku of 64 characters", func(p *order.PlaceParams) { p.Lines[0].SKU = strings.Repeat("S", 64) }},
		{"quantity 1 and 10000", func(p *order.PlaceParams) { p.Lines[0].Quantity, p.Lines[1].Quantity = 1, order.MaxQuantity }},
		{"unit_price 0 and the max", func(p *order.PlaceParams) { p.Lines[0].UnitPrice, p.Lines[1].UnitPrice = 0, order.MaxUnitPrice }},
		{"a free line in an order with a positive total", func(p *order.PlaceParams) {
			p.Lines[0].UnitPrice, p.Lines[1].UnitPrice, p.Lines[2].UnitPrice = 0, 0, 1
		}},
		{"zero-decimal currency", func(p *order.PlaceParams) { p.Currency = "JPY" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := validParams(t)
			tc.mutate(&p)
			if err := order.Validate(p); err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
		})
	}
}

// TestValidateRejectsC1Controls: "printable UTF-8 text" also excludes the C1 control
// characters U+0080–U+009F (unicode.IsControl), e.g. NEL, which some log viewers treat as
// a line break.
func TestValidateRejectsC1Controls(t *testing.T) {
	t.Parallel()
	p := validParams(t)
	p.CustomerID = "c-42\u0085admin"
	if got := fieldsOf(t, order.Validate(p)); !slices.Equal(got, []string{"customer_id"}) {
		t.Errorf("fields = %q, want [customer_id]", got)
	}
}

func TestValidationErrorMessageNamesEveryField(t *testing.T) {
	t.Parallel()
	p := validParams(t)
	p.CustomerID, p.Lines[1].Quantity = "", 0
	msg := order.Validate(p).Error()
	for _, want := range []string{"customer_id: is required", "lines[1].quantity: must be between 1 and 10000, got 0"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() = %q, want it to contain %q", msg, want)
		}
	}
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	err := order.Invalid("Idempotency-Key", "is required")
	if got := fieldsOf(t, err); !slices.Equal(got, []string{"Idempotency-Key"}) {
		t.Errorf("fields = %q", got)
	}
}

func TestValidSKU(t *testing.T) {
	t.Parallel()
	for sku, want := range map[string]bool{
		"SKU-1": true, "a.b_c-D9": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "SKU 1": false, "SKU%201": false, "ß": false, "a\x00": false,
	} {
		if got := order.ValidSKU(sku); got != want {
			t.Errorf("ValidSKU(%q) = %v, want %v", sku, got, want)
		}
	}
}

func TestValidCurrency(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{"EUR": true, "USD": true, "JPY": true, "eur": false, "XYZ": false, "": false, "EURO": false} {
		if got := order.ValidCurrency(code); got != want {
			t.Errorf("ValidCurrency(%q) = %v, want %v", code, got, want)
		}
	}
}
