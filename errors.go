package crmhub

import "errors"

// Sentinel errors shared by every layer. Wrap them with context; test with
// errors.Is.
var (
	// ErrNotFound reports that a record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict reports that a write lost against a concurrent or newer one.
	ErrConflict = errors.New("conflict")
	// ErrInvalid reports a record that breaks an invariant of the model.
	ErrInvalid = errors.New("invalid")
)

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: a retry will fail the same way (a
// malformed payload, a missing scope), so the pipeline sends the message to
// the dead-letter store instead of retrying. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

// IsPermanent reports whether err, or any error it wraps, was marked with
// Permanent or is ErrInvalid. Everything else is treated as transient.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var p permanentError
	return errors.As(err, &p) || errors.Is(err, ErrInvalid)
}
