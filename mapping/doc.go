// Package mapping turns raw records of a source into canonical fields:
// declarative mapping rules and the normalizers they use.
//
// The normalizers come in two kinds, and callers must not mix them up:
//
//   - Normalize* functions (NormalizeEmail, NormalizePhone, NormalizeName,
//     NormalizeCountry, NormalizePostcode) and the date parsers produce the
//     value that is stored and shown. They are conservative: they fix
//     notation (case, spacing, digits, punycode) but never change what the
//     value says.
//   - *Key functions (EmailMatchKey, NameMatchKey, TransliterationKey,
//     NameTokens, StreetKey) produce keys for identity resolution. They are
//     deliberately lossy so that spellings of the same thing compare equal,
//     and must never be stored as a customer's value.
//
// An E.164 phone number is both: NormalizePhone's result is the stored value
// and the match key.
//
// Errors wrap crmhub.ErrInvalid, so crmhub.IsPermanent reports true: a value
// that does not normalize now will not normalize on a retry. Messages show
// the offending value abbreviated, since they end up in dead-letter records.
// Every function is pure and safe for concurrent use.
package mapping
