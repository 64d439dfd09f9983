package privacy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/store"
)

// reads is what finding a person needs; a Store, a unit of work and a read
// transaction all have it.
type reads interface {
	Customer(ctx context.Context, id string) (crmhub.Customer, error)
	Customers(ctx context.Context, ids []string) ([]crmhub.Customer, error)
	CustomerIDsByEmail(ctx context.Context, email string) ([]string, error)
	CustomerIDsByPhone(ctx context.Context, phone string) ([]string, error)
	CustomerIDByIdentity(ctx context.Context, source, externalID string) (string, error)
	RawRecords(ctx context.Context, source string, after int64, limit int) ([]store.RawRecord, error)
	DeadLetters(ctx context.Context, after int64, limit int) ([]store.DeadLetter, error)
}

// subject is the person a request is about: their live profiles and what
// identifies them.
type subject struct {
	profiles []crmhub.Customer
	// emails and phones are normalized.
	emails, phones []string
	// records are customer records by source and external id; orders are
	// orders by the same.
	records, orders map[store.RecordKey]bool
	// given are the request's own emails and phones as sent, to find them
	// in raw payloads.
	given []string
}

// profileIDs returns the ids of the live profiles.
func (sub *subject) profileIDs() []string {
	ids := make([]string, len(sub.profiles))
	for i, c := range sub.profiles {
		ids[i] = c.ID
	}
	return ids
}

// find gathers the person a request names: the profiles of the request's
// customer records, emails and phones (profiles sharing an email or phone
// are taken as the person, as identity resolution's deterministic rules
// do), of its profile ids (followed to the profile they were merged into),
// and everything those profiles list.
func (s *Service) find(ctx context.Context, r reads, req crmhub.PrivacyRequest) (*subject, error) {
	sub := &subject{records: map[store.RecordKey]bool{}, orders: map[store.RecordKey]bool{}}
	emails, phones := map[string]bool{}, map[string]bool{}
	for _, e := range req.Emails {
		if n, err := mapping.NormalizeEmail(e); err == nil {
			emails[n] = true
		}
		sub.given = append(sub.given, e)
	}
	for _, p := range req.Phones {
		if n, err := mapping.NormalizePhone(p, s.opts.Regions[req.Source]); err == nil {
			phones[n] = true
		}
		sub.given = append(sub.given, p)
	}
	for _, id := range req.CustomerIDs {
		sub.records[store.RecordKey{Source: req.Source, ExternalID: id}] = true
	}
	for _, id := range req.OrderIDs {
		sub.orders[store.RecordKey{Source: req.Source, ExternalID: id}] = true
	}
	ids, err := s.profilesNamed(ctx, r, req, sub.records, emails, phones)
	if err != nil {
		return nil, err
	}
	if sub.profiles, err = r.Customers(ctx, slices.Sorted(maps.Keys(ids))); err != nil {
		return nil, err
	}
	for _, c := range sub.profiles {
		for _, e := range c.Emails {
			emails[e] = true
		}
		for _, p := range c.Phones {
			phones[p] = true
		}
		for _, id := range c.Identities {
			sub.records[store.RecordKey{Source: id.Source, ExternalID: id.ExternalID}] = true
		}
	}
	sub.emails, sub.phones = slices.Sorted(maps.Keys(emails)), slices.Sorted(maps.Keys(phones))
	return sub, nil
}

// profilesNamed returns the live profiles that hold one of the records,
// emails or phones, or that a request's profile id names.
func (s *Service) profilesNamed(ctx context.Context, r reads, req crmhub.PrivacyRequest,
	records map[store.RecordKey]bool, emails, phones map[string]bool) (map[string]bool, error) {
	ids := map[string]bool{}
	for k := range records {
		id, err := r.CustomerIDByIdentity(ctx, k.Source, k.ExternalID)
		switch {
		case errors.Is(err, crmhub.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			ids[id] = true
		}
	}
	for e := range emails {
		found, err := r.CustomerIDsByEmail(ctx, e)
		if err != nil {
			return nil, err
		}
		for _, id := range found {
			ids[id] = true
		}
	}
	for p := range phones {
		found, err := r.CustomerIDsByPhone(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, id := range found {
			ids[id] = true
		}
	}
	for _, id := range req.Profiles {
		live, err := liveProfile(ctx, r, id)
		if err != nil {
			return nil, err
		}
		ids[live] = true
	}
	return ids, nil
}

// maxMergeHops bounds following merged_into, in case of a cycle.
const maxMergeHops = 100

// liveProfile follows a profile id to the profile it was merged into, if
// it was. An unknown id is an error wrapping crmhub.ErrNotFound.
func liveProfile(ctx context.Context, r reads, id string) (string, error) {
	for range maxMergeHops {
		c, err := r.Customer(ctx, id)
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

// matcher tells the raw records and dead letters that concern the person:
// a customer record or order of theirs by key, or any record whose payload
// holds one of their emails or phones (an order names its buyer's email,
// a failed record never became part of a profile).
type matcher struct {
	records, orders map[store.RecordKey]bool
	needles         [][]byte
}

func (sub *subject) matcher() matcher {
	m := matcher{records: sub.records, orders: sub.orders}
	add := func(v string) {
		v = strings.ToLower(strings.TrimSpace(v))
		// Shorter strings would match by chance.
		if len(v) >= 6 && !slices.ContainsFunc(m.needles, func(n []byte) bool { return string(n) == v }) {
			m.needles = append(m.needles, []byte(v))
		}
	}
	for _, e := range sub.emails {
		add(e)
	}
	for _, p := range sub.phones {
		add(p)
	}
	for _, g := range sub.given {
		add(g)
	}
	return m
}

// matches reports whether a record of a source concerns the person.
func (m matcher) matches(source, entity, externalID string, payload []byte) bool {
	k := store.RecordKey{Source: source, ExternalID: externalID}
	switch crmhub.Entity(entity) {
	case crmhub.EntityCustomer, crmhub.EntityLead:
		if m.records[k] {
			return true
		}
	case crmhub.EntityOrder:
		if m.orders[k] {
			return true
		}
	}
	return m.contains(payload)
}

func (m matcher) contains(payload []byte) bool {
	if len(m.needles) == 0 || len(payload) == 0 {
		return false
	}
	lower := bytes.ToLower(payload)
	for _, n := range m.needles {
		if bytes.Contains(lower, n) {
			return true
		}
	}
	return false
}

// scanPage is how many rows one read of a scanned table takes.
const scanPage = 1000

// traces are the raw records and dead letters of a person, found by
// reading both tables whole.
type traces struct {
	raw         []store.RawRecord
	deadLetters []store.DeadLetter
	// lastRaw and lastDeadLetter are the highest ids read: rows added
	// after are read by a later scan from there.
	lastRaw, lastDeadLetter int64
}

// scan reads the raw records and dead letters with ids above those in t
// and adds the ones that concern the person. Both tables are read whole:
// a request is rare, and a record that never became part of a profile
// (a failed mapping, an order naming a guest's email) is found only by
// its content.
func (t *traces) scan(ctx context.Context, r reads, m matcher) error {
	for {
		page, err := r.RawRecords(ctx, "", t.lastRaw, scanPage)
		if err != nil {
			return err
		}
		for _, rec := range page {
			if m.matches(rec.Source, rec.Entity, rec.ExternalID, rec.Payload) {
				t.raw = append(t.raw, rec)
			}
			t.lastRaw = rec.ID
		}
		if len(page) < scanPage {
			break
		}
	}
	for {
		page, err := r.DeadLetters(ctx, t.lastDeadLetter, scanPage)
		if err != nil {
			return err
		}
		for _, dl := range page {
			if m.matches(dl.Source, dl.Entity, dl.ExternalID, dl.Payload) {
				t.deadLetters = append(t.deadLetters, dl)
			}
			t.lastDeadLetter = dl.ID
		}
		if len(page) < scanPage {
			return nil
		}
	}
}
