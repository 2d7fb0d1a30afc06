package httpapi

import (
	"net/http"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/domain/inventory"
)

type stockRequest struct {
	OnHand *int64 `json:"on_hand"`
}

type stockJSON struct {
	SKU       string `json:"sku"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Available int64  `json:"available"`
}

func (a *API) putStock(w http.ResponseWriter, r *http.Request, _ access.Principal) {
	sku := r.PathValue("sku")
	var req stockRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	if req.OnHand == nil {
		writeError(w, r, a.d.Log, &statusError{status: http.StatusUnprocessableEntity, field: "on_hand", detail: "is required"})
		return
	}
	if err := inventory.ValidateLevel(sku, *req.OnHand); err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	st, err := a.d.Stock.SetStock(r.Context(), sku, *req.OnHand)
	if err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	writeJSON(w, http.StatusOK, toStockJSON(st))
}

func (a *API) getStock(w http.ResponseWriter, r *http.Request, _ access.Principal) {
	st, err := a.d.Stock.GetStock(r.Context(), r.PathValue("sku"))
	if err != nil {
		writeError(w, r, a.d.Log, err)
		return
	}
	writeJSON(w, http.StatusOK, toStockJSON(st))
}

func toStockJSON(s inventory.Stock) stockJSON {
	return stockJSON{SKU: s.SKU, OnHand: s.OnHand, Reserved: s.Reserved, Available: s.Available()}
}
