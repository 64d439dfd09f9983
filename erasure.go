package crmhub

// Erasure is what a destination is asked to carry out in the system it
// pushes to after crmhub erased a person (GDPR Art. 19): remove what it
// wrote there about them. It names the person by ids and hashes only; the
// erasure left no plain email, phone or name behind.
type Erasure struct {
	// Task is the erasure task's id in the store.
	Task int64 `json:"task"`
	// Request is the privacy request's id; Kind what it asked (PrivacyRedact
	// or PrivacyShopRedact) and Source the source it came from, "" for an
	// operator's request. A destination that writes to that same source's
	// system may find that the system erases the person itself.
	Request string      `json:"request"`
	Kind    PrivacyKind `json:"kind"`
	Source  string      `json:"source,omitempty"`
	// CustomerID is the erased profile: the id the destination pushed it
	// under.
	CustomerID string `json:"customer_id"`
	// Identities are the profile's records in sources when it was erased.
	Identities []Identity `json:"identities,omitempty"`
	// EmailSHA256 and PhoneSHA256 are SHA-256 of the normalized emails and
	// of the phones' digits with country code, as ad platforms match them.
	EmailSHA256 []string `json:"email_sha256,omitempty"`
	PhoneSHA256 []string `json:"phone_sha256,omitempty"`
}
