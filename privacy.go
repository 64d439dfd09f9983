package crmhub

// PrivacyKind names what a privacy request asks for.
type PrivacyKind string

// Kinds of privacy requests.
const (
	// PrivacyDataRequest asks for everything held on a person.
	PrivacyDataRequest PrivacyKind = "data_request"
	// PrivacyRedact asks for a person to be erased.
	PrivacyRedact PrivacyKind = "redact"
	// PrivacyShopRedact asks for everything of one source to be erased
	// (Shopify sends it 48 hours after a shop uninstalls the app).
	PrivacyShopRedact PrivacyKind = "shop_redact"
)

// PrivacyRequest is a request about personal data, as a connector read it
// from its source or an operator gave it. It names the person by what the
// source knows of them; crmhub finds the profiles from there.
type PrivacyRequest struct {
	Kind PrivacyKind `json:"kind"`
	// Source is the configured source the request came from; for
	// PrivacyShopRedact, the source whose data is erased.
	Source string `json:"source,omitempty"`
	// RequestID is the source's own id of the request, when it has one.
	RequestID string `json:"request_id,omitempty"`
	// CustomerIDs are the person's customer ids in Source.
	CustomerIDs []string `json:"customer_ids,omitempty"`
	// OrderIDs are ids of the person's orders in Source.
	OrderIDs []string `json:"order_ids,omitempty"`
	// Emails and Phones are as the source sent them, not normalized.
	Emails []string `json:"emails,omitempty"`
	Phones []string `json:"phones,omitempty"`
	// Profiles are crmhub profile ids, for an operator's request.
	Profiles []string `json:"profiles,omitempty"`
}

// Validate checks that the request says what to do and whom it is about.
// Errors wrap ErrInvalid.
func (r *PrivacyRequest) Validate() error {
	switch r.Kind {
	case PrivacyDataRequest, PrivacyRedact:
		if len(r.CustomerIDs)+len(r.Emails)+len(r.Phones)+len(r.Profiles) == 0 {
			return invalidf("privacy request %s: names no customer, email, phone or profile", r.Kind)
		}
		if len(r.CustomerIDs) > 0 && r.Source == "" {
			return invalidf("privacy request %s: customer ids without their source", r.Kind)
		}
	case PrivacyShopRedact:
		if r.Source == "" {
			return invalidf("privacy request %s: no source", r.Kind)
		}
	default:
		return invalidf("privacy request: unknown kind %q", r.Kind)
	}
	return nil
}
