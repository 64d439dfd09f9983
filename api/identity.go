package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

// Identity changes the identity graph on an operator's say, as `crmhub
// merge` and `crmhub unmerge` do. Implementations are safe for concurrent
// use. A profile or record that does not exist is an error wrapping
// crmhub.ErrNotFound; an action the graph cannot take (profiles of
// different tenants, nothing to undo) wraps crmhub.ErrConflict; one that
// makes no sense (records of another profile) wraps crmhub.ErrInvalid.
type Identity interface {
	// Merge forces profiles a and b into one, with the operator's reason
	// in the merge log. Profiles that are one already are left as they
	// are.
	Merge(ctx context.Context, a, b, actor, reason string) (IdentityOutcome, error)
	// Unmerge undoes merge mergeID of profile id, or, when mergeID is
	// empty, the latest merge that profile id survived and that is not
	// undone yet.
	Unmerge(ctx context.Context, id, mergeID, actor string) (IdentityOutcome, error)
	// SplitOff takes records (source:external_id) of profile id off it.
	SplitOff(ctx context.Context, id string, records []string, actor string) (IdentityOutcome, error)
}

// IdentityOutcome is what an action on the identity graph did.
type IdentityOutcome struct {
	// Merges are the merges it made.
	Merges []crmhub.Merge
	// Undone names the merge it undid, if any.
	Undone string
	// Changed lists the profiles whose documents were written, merged
	// away ones included.
	Changed []string
}

// Limits of the bodies of the identity routes.
const (
	maxReasonLen  = 1000
	maxSplitOff   = 1000
	maxRecordLen  = 512
	mergeProfiles = 2
)

// mergeRequest is the body of POST /api/v1/merges.
type mergeRequest struct {
	CustomerIDs []string `json:"customer_ids"`
	// Reason says why, for the operator's records: the merge log keeps it.
	Reason string `json:"reason"`
}

// unmergeRequest is the body of POST /api/v1/customers/{id}/unmerge; all
// of it is optional.
type unmergeRequest struct {
	MergeID string   `json:"merge_id"`
	Records []string `json:"records"`
}

// identityResult is the answer of the identity routes: the merges made,
// the merge undone, and every profile that changed as it is now.
type identityResult struct {
	Merges   []crmhub.Merge   `json:"merges"`
	Undone   []string         `json:"undone"`
	Profiles []changedProfile `json:"profiles"`
}

// changedProfile is a profile an action changed: merged away into
// another, or live with its records.
type changedProfile struct {
	ID         string            `json:"id"`
	MergedInto *string           `json:"merged_into"`
	Identities []crmhub.Identity `json:"identities"`
}

func (a *REST) createMerge(w http.ResponseWriter, r *http.Request) error {
	if a.identity == nil {
		return unavailable("merging profiles")
	}
	var req mergeRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	if len(req.CustomerIDs) != mergeProfiles {
		return invalidBody("customer_ids", "name the %d profiles to merge, got %d", mergeProfiles, len(req.CustomerIDs))
	}
	for _, id := range req.CustomerIDs {
		if err := checkText("customer_ids", id, maxRecordLen); err != nil {
			return err
		}
	}
	if req.CustomerIDs[0] == req.CustomerIDs[1] {
		return unprocessable("customer_ids", "name two different profiles, not %s twice", req.CustomerIDs[0])
	}
	if len(req.Reason) > maxReasonLen {
		return invalidBody("reason", "longer than %d bytes", maxReasonLen)
	}
	out, err := a.identity.Merge(r.Context(), req.CustomerIDs[0], req.CustomerIDs[1], actor(r.Context()), req.Reason)
	if err != nil {
		return err
	}
	return a.identityDone(w, r, "profiles merged", out)
}

func (a *REST) unmergeCustomer(w http.ResponseWriter, r *http.Request) error {
	if a.identity == nil {
		return unavailable("unmerging profiles")
	}
	var req unmergeRequest
	if err := decodeBody(r, &req, true); err != nil {
		return err
	}
	if req.MergeID != "" && len(req.Records) > 0 {
		return invalidBody("records", "give either merge_id or records, not both")
	}
	if len(req.Records) > maxSplitOff {
		return invalidBody("records", "at most %d records at a time", maxSplitOff)
	}
	for _, rec := range req.Records {
		if err := checkText("records", rec, maxRecordLen); err != nil {
			return err
		}
		if src, id, ok := strings.Cut(rec, ":"); !ok || src == "" || id == "" {
			return invalidBody("records", "%q: want source:external_id", rec)
		}
	}
	if err := checkText("merge_id", req.MergeID, maxRecordLen); err != nil {
		return err
	}
	id := r.PathValue("id")
	var (
		out IdentityOutcome
		err error
	)
	if len(req.Records) > 0 {
		out, err = a.identity.SplitOff(r.Context(), id, req.Records, actor(r.Context()))
	} else {
		out, err = a.identity.Unmerge(r.Context(), id, req.MergeID, actor(r.Context()))
	}
	if err != nil {
		return err
	}
	return a.identityDone(w, r, "profile unmerged", out)
}

// identityDone logs an action on the identity graph and answers with
// what it did, the changed profiles read back as they are now.
func (a *REST) identityDone(w http.ResponseWriter, r *http.Request, msg string, out IdentityOutcome) error {
	res := identityResult{Merges: out.Merges, Undone: []string{}, Profiles: make([]changedProfile, 0, len(out.Changed))}
	if res.Merges == nil {
		res.Merges = []crmhub.Merge{}
	}
	if out.Undone != "" {
		res.Undone = append(res.Undone, out.Undone)
	}
	for _, id := range out.Changed {
		c, err := a.store.Customer(r.Context(), id)
		if err != nil {
			return fmt.Errorf("read changed profile %s: %w", id, err)
		}
		p := changedProfile{ID: c.ID, Identities: c.Identities}
		if c.MergedInto != "" {
			p.MergedInto = &c.MergedInto
		}
		if p.Identities == nil {
			p.Identities = []crmhub.Identity{}
		}
		res.Profiles = append(res.Profiles, p)
	}
	a.log.InfoContext(r.Context(), msg, "merges", len(out.Merges), "undone", out.Undone,
		"changed", out.Changed, "token_id", tokenID(r.Context()))
	writeJSON(w, http.StatusOK, res)
	return nil
}

// actor names the token behind a request in the merge log.
func actor(ctx context.Context) string {
	tok, _ := ctx.Value(tokenKey{}).(store.Token)
	return "api:" + tok.Name
}

// decodeBody reads the request's JSON body into v: one object, with no
// field v does not have. An empty body is refused unless optional.
func decodeBody(r *http.Request, v any, optional bool) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.Is(err, io.EOF):
		if optional {
			return nil
		}
		return invalidBody("body", "send a JSON object")
	case err != nil:
		return invalidBody("body", "not the JSON object this route takes: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if errors.As(err, &tooLarge) {
			return err
		}
		return invalidBody("body", "send one JSON object and nothing after it")
	}
	return nil
}

// checkText refuses a value of a body field longer than max bytes. JSON
// decoding has made it UTF-8 already.
func checkText(field, v string, max int) error {
	if len(v) > max {
		return invalidBody(field, "longer than %d bytes", max)
	}
	return nil
}

// invalidBody reports a request body that is malformed or misses a field.
func invalidBody(field, format string, args ...any) *apiError {
	e := errorf(http.StatusBadRequest, CodeInvalidBody, "%s: %s", field, fmt.Sprintf(format, args...))
	e.details = map[string]string{"field": field}
	return e
}

// unprocessable reports a well-formed body that asks for something that
// cannot be done.
func unprocessable(field, format string, args ...any) *apiError {
	e := errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "%s: %s", field, fmt.Sprintf(format, args...))
	e.details = map[string]string{"field": field}
	return e
}

// unavailable reports a route whose backing this server was built
// without.
func unavailable(what string) *apiError {
	return errorf(http.StatusServiceUnavailable, CodeUnavailable, "%s is not available on this server", what)
}
