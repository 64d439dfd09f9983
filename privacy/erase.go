package privacy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/store"
)

// erasedTables are the tables an erasure deletes from: after it, their
// deleted rows are scrubbed from the store's files.
var erasedTables = []string{"customers", "customer_emails", "customer_phones", "identities", "identity_records",
	"identity_splits", "identity_links", "orders", "line_items", "events", "raw_records", "dead_letters", "merges",
	"merge_members", "privacy_requests", "checkpoints", "deliveries", "push_state"}

// entries returns the suppression entries of the person: their emails,
// phones, customer records and orders.
func (sub *subject) entries(sup store.Suppressor) map[string]string {
	out := map[string]string{}
	for _, e := range sub.emails {
		out[sup.Email(e)] = store.SuppressEmail
	}
	for _, p := range sub.phones {
		out[sup.Phone(p)] = store.SuppressPhone
	}
	for k := range sub.records {
		out[sup.Record(k.Source, string(crmhub.EntityCustomer), k.ExternalID)] = store.SuppressRecord
	}
	for k := range sub.orders {
		out[sup.Record(k.Source, string(crmhub.EntityOrder), k.ExternalID)] = store.SuppressRecord
	}
	return out
}

// redact erases the person a request names. The raw records and dead
// letters are scanned for them first in a read transaction, so that the
// unit of work that erases, which holds the writer, only reads the rows
// added since; everything else happens in that one unit of work.
func (s *Service) redact(ctx context.Context, rec store.PrivacyRequest, req crmhub.PrivacyRequest) (Summary, error) {
	var t traces
	var exports []string
	err := s.store.InReadTx(ctx, func(rtx *store.ReadTx) error {
		sub, err := s.find(ctx, rtx, req)
		if err != nil {
			return err
		}
		if err := t.scan(ctx, rtx, sub.matcher()); err != nil {
			return err
		}
		exports, err = exportsOf(ctx, rtx, sub)
		return err
	})
	if err != nil {
		return Summary{}, err
	}
	var sum Summary
	err = s.store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		sum, err = s.eraseTx(ctx, tx, rec, req, t, exports)
		return err
	}, store.SecureDelete())
	if err != nil {
		return Summary{}, err
	}
	s.scrub(ctx, rec.ID)
	return sum, nil
}

// eraseTx erases the person in one unit of work: it finds them again (a
// record may have joined a profile since the scan), reads the rows added
// since the scan, and erases, suppresses, records erasure tasks and
// deletes bus messages.
func (s *Service) eraseTx(ctx context.Context, tx *store.Tx, rec store.PrivacyRequest, req crmhub.PrivacyRequest,
	t traces, exports []string) (Summary, error) {
	// Identity resolution on PostgreSQL must not resolve a record of the
	// person while they are erased; SQLite has one writer anyway.
	if err := tx.LockIdentity(ctx); err != nil {
		return Summary{}, err
	}
	sub, err := s.find(ctx, tx, req)
	if err != nil {
		return Summary{}, err
	}
	m := sub.matcher()
	if err := t.scan(ctx, tx, m); err != nil {
		return Summary{}, err
	}
	for _, id := range sub.profileIDs() {
		os, err := tx.OrdersOfCustomer(ctx, id)
		if err != nil {
			return Summary{}, err
		}
		for _, o := range os {
			sub.orders[store.RecordKey{Source: o.Source, ExternalID: o.ExternalID}] = true
		}
	}
	sup, err := tx.Suppressor(ctx)
	if err != nil {
		return Summary{}, err
	}
	for _, raw := range t.raw {
		// An order of theirs found by its content (it names their email)
		// goes from the orders table too.
		if crmhub.Entity(raw.Entity) == crmhub.EntityOrder {
			sub.orders[store.RecordKey{Source: raw.Source, ExternalID: raw.ExternalID}] = true
		}
	}
	entries := sub.entries(sup)
	var refs []MessageRef
	e := store.Erasure{Customers: sub.profileIDs(), Records: slices.SortedFunc(maps.Keys(sub.records), compareKeys),
		Orders: slices.SortedFunc(maps.Keys(sub.orders), compareKeys)}
	for _, raw := range t.raw {
		e.RawRecords = append(e.RawRecords, raw.ID)
		refs = append(refs, MessageRef{Source: raw.Source, Entity: raw.Entity, ExternalID: raw.ExternalID})
		if crmhub.Entity(raw.Entity) != crmhub.EntityPrivacy {
			entries[sup.Record(raw.Source, raw.Entity, raw.ExternalID)] = store.SuppressRecord
		}
	}
	for _, dl := range t.deadLetters {
		e.DeadLetters = append(e.DeadLetters, dl.ID)
	}
	for k := range sub.records {
		refs = append(refs, MessageRef{Source: k.Source, Entity: string(crmhub.EntityCustomer), ExternalID: k.ExternalID})
	}
	for k := range sub.orders {
		refs = append(refs, MessageRef{Source: k.Source, Entity: string(crmhub.EntityOrder), ExternalID: k.ExternalID})
	}
	sum := Summary{Suppressions: len(entries)}
	res, err := tx.Erase(ctx, e)
	if err != nil {
		return Summary{}, err
	}
	sum.Profiles, sum.Rows = res.Customers, res.Rows
	if n, err := tx.DropPrivacyExports(ctx, exports); err != nil {
		return Summary{}, err
	} else if n > 0 {
		sum.Rows["privacy_exports"] = n
	}
	if err := tx.Suppress(ctx, rec.ID, entries); err != nil {
		return Summary{}, err
	}
	if err := s.afterErase(ctx, tx, rec, &sum, sub.profiles, refs); err != nil {
		return Summary{}, err
	}
	return sum, finish(ctx, tx, rec.ID, sum, nil)
}

// afterErase does what every erasure ends with: in-memory match indexes
// forget the records, destinations get their erasure tasks, bus messages
// of the records go.
func (s *Service) afterErase(ctx context.Context, tx *store.Tx, rec store.PrivacyRequest, sum *Summary,
	people []crmhub.Customer, refs []MessageRef) error {
	if tx.Driver() == store.DriverSQLite {
		// The generation bump makes every process load its match index
		// again, without the erased records.
		if _, err := tx.BumpIdentityGeneration(ctx); err != nil {
			return err
		}
	}
	tasks, err := s.erasureTasks(rec.ID, sum.Profiles, people)
	if err != nil {
		return err
	}
	if err := tx.AddErasureTasks(ctx, tasks); err != nil {
		return err
	}
	sum.ErasureTasks = len(tasks)
	if s.opts.Messages != nil && len(refs) > 0 {
		n, err := s.opts.Messages.EraseMessagesTx(ctx, tx.SQL(), refs)
		if err != nil {
			return fmt.Errorf("erase bus messages: %w", err)
		}
		sum.Messages = n
	}
	return nil
}

// scrub clears what the erasure's deleted rows left in the store's files.
// A failure is logged: the erasure itself is committed, and what is left
// is overwritten as the store goes on.
func (s *Service) scrub(ctx context.Context, requestID string) {
	ok, err := s.store.Scrub(ctx, erasedTables)
	switch {
	case err != nil:
		s.log.Warn("erased rows not scrubbed from the store's files", "request", requestID, "err", err)
	case !ok:
		s.log.Warn("write-ahead log not truncated after an erasure: readers kept it busy; it is overwritten as the store goes on",
			"request", requestID)
	}
}

// exportsOf returns the data requests whose exports hold the person.
func exportsOf(ctx context.Context, r interface {
	PrivacyExports(ctx context.Context) ([]store.PrivacyExport, error)
}, sub *subject) ([]string, error) {
	all, err := r.PrivacyExports(ctx)
	if err != nil {
		return nil, err
	}
	m := sub.matcher()
	var ids []string
	for _, ex := range all {
		hit := m.contains(ex.Export)
		for _, id := range sub.profileIDs() {
			hit = hit || strings.Contains(string(ex.Export), `"`+id+`"`)
		}
		if hit {
			ids = append(ids, ex.RequestID)
		}
	}
	return ids, nil
}

// TaskSubject is what an erasure task gives a destination to find the
// person by, besides the profile id it pushed them under: the source
// identities, and SHA-256 of the normalized emails and of the phones'
// digits with country code, as ad platforms match hashed identifiers.
// Never plain emails or phones: the erasure leaves none behind.
type TaskSubject struct {
	Identities  []crmhub.Identity `json:"identities,omitempty"`
	EmailSHA256 []string          `json:"email_sha256,omitempty"`
	PhoneSHA256 []string          `json:"phone_sha256,omitempty"`
}

// erasureTasks makes one task per destination and erased profile.
func (s *Service) erasureTasks(requestID string, erased []string, people []crmhub.Customer) ([]store.ErasureTask, error) {
	if len(s.opts.Destinations) == 0 || len(erased) == 0 {
		return nil, nil
	}
	var ts TaskSubject
	emails, phones := map[string]bool{}, map[string]bool{}
	for _, c := range people {
		ts.Identities = append(ts.Identities, c.Identities...)
		for _, e := range c.Emails {
			emails[sha256Hex(e)] = true
		}
		for _, p := range c.Phones {
			phones[sha256Hex(strings.TrimPrefix(p, "+"))] = true
		}
	}
	ts.EmailSHA256, ts.PhoneSHA256 = slices.Sorted(maps.Keys(emails)), slices.Sorted(maps.Keys(phones))
	subject, err := json.Marshal(ts)
	if err != nil {
		return nil, fmt.Errorf("encode erasure task subject: %w", err)
	}
	var tasks []store.ErasureTask
	for _, d := range s.opts.Destinations {
		for _, id := range erased {
			tasks = append(tasks, store.ErasureTask{RequestID: requestID, Destination: d, CustomerID: id, Subject: subject})
		}
	}
	return tasks, nil
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// eraseSource erases everything one source brought, in one unit of work.
// A profile left without records is erased; one that other sources'
// records still make is derived again from those (they stay one profile:
// crmhub rebuild re-clusters them if the erased source's record was what
// linked them). Nothing is suppressed: the shop may come back, and its
// data with it.
func (s *Service) eraseSource(ctx context.Context, rec store.PrivacyRequest, req crmhub.PrivacyRequest) (Summary, error) {
	var sum Summary
	err := s.store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.LockIdentity(ctx); err != nil {
			return err
		}
		se, err := tx.EraseSource(ctx, req.Source)
		if err != nil {
			return err
		}
		empty, rederived, err := s.rederive(ctx, tx, se.Profiles)
		if err != nil {
			return err
		}
		people, err := tx.Customers(ctx, empty)
		if err != nil {
			return err
		}
		res, err := tx.Erase(ctx, store.Erasure{Customers: empty, MergesOf: rederived})
		if err != nil {
			return err
		}
		for table, n := range res.Rows {
			se.Erased[table] += n
		}
		sum = Summary{Profiles: res.Customers, Rows: se.Erased, Rederived: rederived}
		if err := s.afterErase(ctx, tx, rec, &sum, people, []MessageRef{{Source: req.Source}}); err != nil {
			return err
		}
		return finish(ctx, tx, rec.ID, sum, nil)
	}, store.SecureDelete())
	if err != nil {
		return Summary{}, err
	}
	s.scrub(ctx, rec.ID)
	return sum, nil
}

// rederive derives the given profiles again from the records they have
// left, and returns the ones left with none.
func (s *Service) rederive(ctx context.Context, tx *store.Tx, ids []string) (empty, rederived []string, err error) {
	for _, id := range ids {
		irs, err := tx.IdentityRecordsOfCustomers(ctx, []string{id})
		if err != nil {
			return nil, nil, err
		}
		if len(irs) == 0 {
			empty = append(empty, id)
			continue
		}
		recs := make([]identity.Record, len(irs))
		for i, ir := range irs {
			if err := json.Unmarshal(ir.Doc, &recs[i]); err != nil {
				return nil, nil, fmt.Errorf("decode record %s: %w", ir.RecordKey, err)
			}
		}
		c := s.opts.Survivorship.Profile(id, recs)
		if err := tx.UpsertCustomers(ctx, []crmhub.Customer{c}); err != nil {
			return nil, nil, err
		}
		rederived = append(rederived, id)
	}
	return empty, rederived, nil
}

// EraseRecordMessagesTx deletes the bus messages of one record of a
// source, of any of the given entities and as a canonical customer
// record, in the caller's unit of work: the pipeline drops a record of an
// erased person with it.
func (s *Service) EraseRecordMessagesTx(ctx context.Context, tx *store.Tx, source, externalID string, entities []string) error {
	if s.opts.Messages == nil {
		return nil
	}
	refs := []MessageRef{{Source: source, Entity: string(crmhub.EntityCustomer), ExternalID: externalID}}
	for _, e := range entities {
		refs = append(refs, MessageRef{Source: source, Entity: e, ExternalID: externalID})
	}
	_, err := s.opts.Messages.EraseMessagesTx(ctx, tx.SQL(), refs)
	return wrapf(err, "erase bus messages of %s/%s", source, externalID)
}

// EraseMessageRefsTx deletes the bus messages of the given records in the
// caller's unit of work: the pipeline drops an order of an erased person
// with it.
func (s *Service) EraseMessageRefsTx(ctx context.Context, tx *store.Tx, refs ...MessageRef) error {
	if s.opts.Messages == nil || len(refs) == 0 {
		return nil
	}
	_, err := s.opts.Messages.EraseMessagesTx(ctx, tx.SQL(), refs)
	return wrapf(err, "erase bus messages of %d records", len(refs))
}
