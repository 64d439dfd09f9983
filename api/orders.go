package api

import (
	"context"
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
	return writePage(w, r, a.maxPage, func(ctx context.Context, after string, n int) ([]crmhub.Order, error) {
		return a.store.OrderPage(ctx, f, after, n)
	}, func(o crmhub.Order) string { return o.ID })
}
