package privacy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/store"
)

// Export is what a data request produces: everything the store holds on
// the person. It is stored with the request as JSON.
type Export struct {
	Request     ExportRequest `json:"request"`
	GeneratedAt time.Time     `json:"generated_at"`
	// Suppressed is set when the person was erased before: of them the
	// store keeps only keyed hashes that stop their records from coming
	// back.
	Suppressed bool `json:"suppressed"`
	// Profiles are the person's profiles with their identities and the
	// source of every field (provenance).
	Profiles []crmhub.Customer `json:"profiles"`
	// Records are the source records behind the profiles, as mapped.
	Records []ExportRecord `json:"records"`
	// Merges are the merges the profiles took part in, with evidence.
	Merges      []crmhub.Merge     `json:"merges"`
	Orders      []crmhub.Order     `json:"orders"`
	Events      []crmhub.Event     `json:"events"`
	RawRecords  []ExportRaw        `json:"raw_records"`
	DeadLetters []ExportDeadLetter `json:"dead_letters"`
}

// ExportRequest identifies the request an export answers.
type ExportRequest struct {
	ID         string    `json:"id"`
	Source     string    `json:"source,omitempty"`
	RequestID  string    `json:"request_id,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}

// ExportRecord is one source record of the person as identity resolution
// keeps it.
type ExportRecord struct {
	Source     string              `json:"source"`
	ExternalID string              `json:"external_id"`
	Version    string              `json:"version,omitempty"`
	Fields     map[string][]string `json:"fields"`
	At         time.Time           `json:"at,omitzero"`
}

// ExportRaw is a raw record as landed. Payload holds it when it is JSON,
// PayloadText otherwise.
type ExportRaw struct {
	ID          int64             `json:"id"`
	Source      string            `json:"source"`
	Entity      string            `json:"entity"`
	ExternalID  string            `json:"external_id"`
	Version     string            `json:"version,omitempty"`
	ReceivedAt  time.Time         `json:"received_at"`
	Meta        map[string]string `json:"meta,omitempty"`
	Payload     json.RawMessage   `json:"payload,omitempty"`
	PayloadText string            `json:"payload_text,omitempty"`
}

// ExportDeadLetter is a dead letter of the person's.
type ExportDeadLetter struct {
	ID          int64           `json:"id"`
	Stage       string          `json:"stage"`
	Source      string          `json:"source"`
	Entity      string          `json:"entity"`
	ExternalID  string          `json:"external_id"`
	Reason      string          `json:"reason"`
	FirstSeen   time.Time       `json:"first_seen"`
	LastSeen    time.Time       `json:"last_seen"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	PayloadText string          `json:"payload_text,omitempty"`
}

// payload returns bytes as JSON when they are, as text otherwise.
func payload(b []byte) (json.RawMessage, string) {
	if json.Valid(b) {
		return json.RawMessage(b), ""
	}
	if utf8.Valid(b) {
		return nil, string(b)
	}
	return nil, fmt.Sprintf("(%d bytes, not text)", len(b))
}

// dataRequest builds the export of a request's person from one snapshot
// and stores it with the request.
func (s *Service) dataRequest(ctx context.Context, rec store.PrivacyRequest, req crmhub.PrivacyRequest) (Summary, error) {
	var ex *Export
	err := s.store.InReadTx(ctx, func(rtx *store.ReadTx) error {
		var err error
		ex, err = s.Collect(ctx, rtx, req)
		return err
	})
	if err != nil {
		return Summary{}, err
	}
	ex.Request = ExportRequest{ID: rec.ID, Source: rec.Source, RequestID: rec.ExternalID, ReceivedAt: rec.CreatedAt}
	b, err := json.Marshal(ex)
	if err != nil {
		return Summary{}, fmt.Errorf("encode export: %w", err)
	}
	sum := Summary{Profiles: profileIDs(ex.Profiles), Exported: map[string]int{
		"profiles": len(ex.Profiles), "records": len(ex.Records), "merges": len(ex.Merges),
		"orders": len(ex.Orders), "events": len(ex.Events), "raw_records": len(ex.RawRecords),
		"dead_letters": len(ex.DeadLetters),
	}}
	return sum, s.store.InTx(ctx, func(tx *store.Tx) error { return finish(ctx, tx, rec.ID, sum, b) })
}

func profileIDs(cs []crmhub.Customer) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

// exportReads is what Collect reads.
type exportReads interface {
	reads
	IdentityRecordsOfCustomers(ctx context.Context, ids []string) ([]store.IdentityRecord, error)
	MergesOf(ctx context.Context, customerID string) ([]crmhub.Merge, error)
	OrdersOfCustomer(ctx context.Context, customerID string) ([]crmhub.Order, error)
	Order(ctx context.Context, source, externalID string) (crmhub.Order, error)
	EventsOfCustomer(ctx context.Context, customerID string) ([]crmhub.Event, error)
	Suppressor(ctx context.Context) (store.Suppressor, error)
	Suppressed(ctx context.Context, hashes []string) (map[string]bool, error)
}

// Collect gathers everything r holds on the person req names. Read it in
// one read transaction, so that the parts agree with each other.
func (s *Service) Collect(ctx context.Context, r exportReads, req crmhub.PrivacyRequest) (*Export, error) {
	sub, err := s.find(ctx, r, req)
	if err != nil {
		return nil, err
	}
	ex := &Export{GeneratedAt: s.now().UTC(), Profiles: sub.profiles, Records: []ExportRecord{},
		Merges: []crmhub.Merge{}, Orders: []crmhub.Order{}, Events: []crmhub.Event{},
		RawRecords: []ExportRaw{}, DeadLetters: []ExportDeadLetter{}}
	if ex.Profiles == nil {
		ex.Profiles = []crmhub.Customer{}
	}
	if ex.Suppressed, err = s.suppressed(ctx, r, sub); err != nil {
		return nil, err
	}
	if err := collectRecords(ctx, r, sub, ex); err != nil {
		return nil, err
	}
	if err := collectActivity(ctx, r, sub, ex); err != nil {
		return nil, err
	}
	var t traces
	if err := t.scan(ctx, r, sub.matcher()); err != nil {
		return nil, err
	}
	for _, raw := range t.raw {
		p, text := payload(raw.Payload)
		ex.RawRecords = append(ex.RawRecords, ExportRaw{ID: raw.ID, Source: raw.Source, Entity: raw.Entity,
			ExternalID: raw.ExternalID, Version: raw.Version, ReceivedAt: raw.ReceivedAt, Meta: raw.Meta,
			Payload: p, PayloadText: text})
	}
	for _, dl := range t.deadLetters {
		p, text := payload(dl.Payload)
		ex.DeadLetters = append(ex.DeadLetters, ExportDeadLetter{ID: dl.ID, Stage: dl.Handler, Source: dl.Source,
			Entity: dl.Entity, ExternalID: dl.ExternalID, Reason: dl.Reason, FirstSeen: dl.FirstSeen,
			LastSeen: dl.LastSeen, Payload: p, PayloadText: text})
	}
	return ex, nil
}

// suppressed reports whether one of the person's identifiers is on the
// suppression list.
func (s *Service) suppressed(ctx context.Context, r exportReads, sub *subject) (bool, error) {
	sup, err := r.Suppressor(ctx)
	if err != nil {
		return false, err
	}
	found, err := r.Suppressed(ctx, slices.Collect(maps.Keys(sub.entries(sup))))
	return len(found) > 0, err
}

// collectRecords adds the source records behind the profiles.
func collectRecords(ctx context.Context, r exportReads, sub *subject, ex *Export) error {
	recs, err := r.IdentityRecordsOfCustomers(ctx, sub.profileIDs())
	if err != nil {
		return err
	}
	for _, ir := range recs {
		var rec identity.Record
		if err := json.Unmarshal(ir.Doc, &rec); err != nil {
			return fmt.Errorf("decode record %s: %w", ir.RecordKey, err)
		}
		ex.Records = append(ex.Records, ExportRecord{Source: ir.Source, ExternalID: ir.ExternalID,
			Version: ir.Version, Fields: rec.Fields, At: rec.At})
	}
	slices.SortFunc(ex.Records, func(a, b ExportRecord) int {
		return compareKeys(store.RecordKey{Source: a.Source, ExternalID: a.ExternalID},
			store.RecordKey{Source: b.Source, ExternalID: b.ExternalID})
	})
	return nil
}

// collectActivity adds the profiles' merges, orders and events, and the
// orders the request names.
func collectActivity(ctx context.Context, r exportReads, sub *subject, ex *Export) error {
	seenMerge, seenOrder := map[string]bool{}, map[string]bool{}
	addOrder := func(o crmhub.Order) {
		if !seenOrder[o.ID] {
			seenOrder[o.ID] = true
			ex.Orders = append(ex.Orders, o)
		}
	}
	for _, id := range sub.profileIDs() {
		ms, err := r.MergesOf(ctx, id)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if !seenMerge[m.ID] {
				seenMerge[m.ID] = true
				ex.Merges = append(ex.Merges, m)
			}
		}
		os, err := r.OrdersOfCustomer(ctx, id)
		if err != nil {
			return err
		}
		for _, o := range os {
			addOrder(o)
		}
		es, err := r.EventsOfCustomer(ctx, id)
		if err != nil {
			return err
		}
		ex.Events = append(ex.Events, es...)
	}
	for _, k := range slices.SortedFunc(maps.Keys(sub.orders), compareKeys) {
		o, err := r.Order(ctx, k.Source, k.ExternalID)
		if errors.Is(err, crmhub.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		addOrder(o)
	}
	return nil
}

func compareKeys(a, b store.RecordKey) int {
	return (identity.Key{Source: a.Source, ExternalID: a.ExternalID}).Compare(identity.Key{Source: b.Source, ExternalID: b.ExternalID})
}
