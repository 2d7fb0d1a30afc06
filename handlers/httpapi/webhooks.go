package httpapi

import (
	"encoding/json"
	"fmt"

	"github.com/shopflow/orders/domain/order"
)

// OrderDocument is the order as GET /v1/orders/{id} answers it: the data of its webhooks.
func OrderDocument(o *order.Order) ([]byte, error) {
	b, err := json.Marshal(toOrderJSON(o))
	if err != nil {
		return nil, fmt.Errorf("encode order %s: %w", o.ID(), err)
	}
	return b, nil
}
