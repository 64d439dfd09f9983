package api

import (
	"net/http"
	"strings"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

func (a *REST) listOrders(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	since, err := updatedSince(q)
	if err != nil {
		return err
	}
	f := store.OrderFilter{CustomerID: strings.TrimSpace(q.Get("customer_id")), UpdatedSince: since}
	limit, err := pageLimit(r, a.maxPage)
	if err != nil {
		return err
	}
	after, err := decodeCursor(r)
	if err != nil {
		return err
	}
	os, err := a.store.OrderPage(r.Context(), f, after, limit+1)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(os, limit, func(o crmhub.Order) string { return o.ID }))
	return nil
}
