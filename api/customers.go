package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/store"
)

// maxQueryLen bounds the text filters: longer ones match nothing real
// and cost a scan all the same.
const maxQueryLen = 200

// maxMergeHops bounds following merged_into, in case of a cycle.
const maxMergeHops = 100

func (a *REST) listCustomers(w http.ResponseWriter, r *http.Request) error {
	f, err := customerFilter(r.URL.Query())
	if err != nil {
		return err
	}
	return writePage(w, r, a.maxPage, func(ctx context.Context, after string, n int) ([]crmhub.Customer, error) {
		return a.store.CustomerPage(ctx, f, after, n)
	}, func(c crmhub.Customer) string { return c.ID })
}

// customerFilter reads the filters of the customer list. Emails and
// phones are normalized as the store keeps them, so that
// Sara@Example.com finds sara@example.com.
func customerFilter(q url.Values) (store.CustomerFilter, error) {
	var f store.CustomerFilter
	for _, p := range []struct {
		name string
		dst  *string
	}{{"q", &f.Query}, {"segment", &f.Segment}} {
		*p.dst = strings.TrimSpace(q.Get(p.name))
		if len(*p.dst) > maxQueryLen {
			return f, invalidParam(p.name, "longer than %d bytes", maxQueryLen)
		}
	}
	if v := q.Get("email"); v != "" {
		e, err := mapping.NormalizeEmail(v)
		if err != nil {
			return f, invalidParam("email", "not an email address")
		}
		f.Email = e
	}
	if v := q.Get("phone"); v != "" {
		p, err := normalizePhone(v)
		if err != nil {
			return f, invalidParam("phone", "not a phone number with its country code; write + as %%2B")
		}
		f.Phone = p
	}
	since, err := updatedSince(q)
	f.UpdatedSince = since
	return f, err
}

// normalizePhone reads a phone filter as E.164. A + written unencoded in
// a query string arrives as a space, so a number without + is read as
// international as well.
func normalizePhone(v string) (string, error) {
	p, err := mapping.NormalizePhone(v, "")
	if err != nil && !strings.HasPrefix(strings.TrimSpace(v), "+") {
		p, err = mapping.NormalizePhone("+"+strings.TrimSpace(v), "")
	}
	return p, err
}

// updatedSince reads the updated_since parameter: RFC 3339, or any form
// mapping.ParseTimestamp takes.
func updatedSince(q url.Values) (time.Time, error) {
	v := q.Get("updated_since")
	if v == "" {
		return time.Time{}, nil
	}
	t, err := mapping.ParseTimestamp(v)
	if err != nil {
		return time.Time{}, invalidParam("updated_since", "not a timestamp; use RFC 3339 such as 2026-05-02T10:00:00Z")
	}
	return t, nil
}

// getCustomer answers the profile with its identities and provenance
// (fields of crmhub.Customer) and its merge history ("merges"): what
// writeJSON writes for a struct embedding crmhub.Customer followed by the
// merges. The profile's JSON comes from the store as it keeps it (see
// store.Store.CustomerJSON) and the merges are spliced in: a profile read
// is most of the API's traffic, and decoding and encoding the profile was
// most of its cost.
func (a *REST) getCustomer(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	doc, into, err := a.store.CustomerJSON(r.Context(), id)
	if err != nil {
		return err
	}
	if into != "" {
		return a.redirectToSurvivor(w, r, id, into, "")
	}
	merges, err := a.store.MergesOf(r.Context(), id)
	if err != nil {
		return err
	}
	if merges == nil {
		merges = []crmhub.Merge{}
	}
	m, err := json.Marshal(merges)
	if err != nil || len(doc) < 2 || doc[len(doc)-1] != '}' {
		return fmt.Errorf("encode customer %s: %w", id, cmp.Or(err, errors.New("not a JSON object")))
	}
	body := append(append(append(doc[:len(doc)-1:len(doc)-1], `,"merges":`...), m...), '}')
	writeJSON(w, http.StatusOK, json.RawMessage(body))
	return nil
}

// merged is the body of the redirect from a merged-away profile.
type merged struct {
	ID         string `json:"id"`
	MergedInto string `json:"merged_into"`
	Location   string `json:"location"`
}

// liveCustomer reads the profile named by the path. When it was merged
// away it answers 308 to the same route for the profile it lives on in
// (suffix is what follows the id in the route) and returns ok false.
//
// The redirect is marked no-store: a merge can be undone, and the old id
// then names a profile of its own again.
func (a *REST) liveCustomer(w http.ResponseWriter, r *http.Request, suffix string) (crmhub.Customer, bool, error) {
	id := r.PathValue("id")
	c, err := a.store.Customer(r.Context(), id)
	if err != nil || c.MergedInto == "" {
		return c, err == nil, err
	}
	return c, false, a.redirectToSurvivor(w, r, id, c.MergedInto, suffix)
}

// redirectToSurvivor answers 308 for the profile id, merged into
// mergedInto, to the same route (suffix is what follows the id in it) for
// the live profile it ended in.
func (a *REST) redirectToSurvivor(w http.ResponseWriter, r *http.Request, id, mergedInto, suffix string) error {
	survivor, err := a.survivor(r.Context(), mergedInto)
	if err != nil {
		return err
	}
	loc := "/api/v1/customers/" + url.PathEscape(survivor) + suffix
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", loc)
	writeJSON(w, http.StatusPermanentRedirect, merged{ID: id, MergedInto: survivor, Location: loc})
	return nil
}

// survivor follows merged_into from id to the live profile.
func (a *REST) survivor(ctx context.Context, id string) (string, error) {
	for range maxMergeHops {
		c, err := a.store.Customer(ctx, id)
		if err != nil {
			return "", err
		}
		if c.MergedInto == "" {
			return id, nil
		}
		id = c.MergedInto
	}
	return "", fmt.Errorf("profile %s: merged more than %d times over", id, maxMergeHops)
}

// Kinds of timeline entries.
const (
	kindOrder = "order"
	kindEvent = "event"
)

// timelineEntry is one thing in a profile's history: an order (at its
// creation) or an event (when it occurred).
type timelineEntry struct {
	Kind  string        `json:"kind"`
	At    time.Time     `json:"at"`
	Order *crmhub.Order `json:"order,omitempty"`
	Event *crmhub.Event `json:"event,omitempty"`
	id    string
}

// after reports whether e comes after the entry at, id in the timeline's
// order: newest first, then by id, descending.
func (e timelineEntry) after(at time.Time, id string) bool {
	if c := e.At.Compare(at); c != 0 {
		return c < 0
	}
	return e.id < id
}

func (a *REST) customerTimeline(w http.ResponseWriter, r *http.Request) error {
	limit, err := pageLimit(r, a.maxPage)
	if err != nil {
		return err
	}
	at, id, err := timelineCursor(r)
	if err != nil {
		return err
	}
	c, ok, err := a.liveCustomer(w, r, "/timeline")
	if err != nil || !ok {
		return err
	}
	entries, err := a.timeline(r.Context(), c.ID)
	if err != nil {
		return err
	}
	if id != "" {
		entries = entries[sort.Search(len(entries), func(i int) bool { return entries[i].after(at, id) }):]
	}
	writeJSON(w, http.StatusOK, newPage(entries[:min(len(entries), limit+1)], limit, func(e timelineEntry) string {
		return e.At.Format(time.RFC3339Nano) + " " + e.id
	}))
	return nil
}

// timeline reads a profile's orders and events, newest first.
func (a *REST) timeline(ctx context.Context, id string) ([]timelineEntry, error) {
	orders, err := a.store.OrdersOfCustomer(ctx, id)
	if err != nil {
		return nil, err
	}
	events, err := a.store.EventsOfCustomer(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]timelineEntry, 0, len(orders)+len(events))
	for i := range orders {
		out = append(out, timelineEntry{Kind: kindOrder, At: orders[i].CreatedAt, Order: &orders[i], id: orders[i].ID})
	}
	for i := range events {
		out = append(out, timelineEntry{Kind: kindEvent, At: events[i].OccurredAt, Event: &events[i], id: events[i].ID})
	}
	slices.SortFunc(out, func(x, y timelineEntry) int {
		if c := y.At.Compare(x.At); c != 0 {
			return c
		}
		return cmp.Compare(y.id, x.id)
	})
	return out, nil
}

// timelineCursor reads a timeline cursor: the time and id of the last
// entry of the previous page.
func timelineCursor(r *http.Request) (time.Time, string, error) {
	key, err := decodeCursor(r)
	if err != nil || key == "" {
		return time.Time{}, "", err
	}
	ts, id, ok := strings.Cut(key, " ")
	at, terr := time.Parse(time.RFC3339Nano, ts)
	if !ok || terr != nil || id == "" {
		return time.Time{}, "", invalidParam("cursor", "not a cursor of this route; pass next_cursor as it came")
	}
	return at, id, nil
}
