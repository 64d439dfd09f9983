package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/crmhub/crmhub"
)

// Error codes of the error body. They are part of the API: clients
// branch on them, so they never change meaning.
const (
	CodeInvalidParameter = "invalid_parameter"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeConflict         = "conflict"
	CodeInvalidBody      = "invalid_body"
	CodeUnprocessable    = "unprocessable"
	CodeUnavailable      = "unavailable"
	CodeBodyTooLarge     = "body_too_large"
	CodeRateLimited      = "rate_limited"
	CodeInternal         = "internal"
)

// apiError is an error a handler answers with as it is: its status and
// the code, message and details of the error body.
type apiError struct {
	status  int
	code    string
	message string
	details any
}

func (e *apiError) Error() string { return e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// invalidParam reports a query or path parameter the request got wrong.
func invalidParam(name, format string, args ...any) *apiError {
	e := errorf(http.StatusBadRequest, CodeInvalidParameter, "%s: %s", name, fmt.Sprintf(format, args...))
	e.details = map[string]string{"parameter": name}
	return e
}

// errorBody is the one shape every error is answered in:
// {"error":{"code":"...","message":"...","details":...}}.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details any    `json:"details,omitempty"`
	} `json:"error"`
}

// asAPIError turns what a handler returned into what the client is told.
// Errors that are not the client's to see (a failing database) become a
// bare 500, so that no internal detail leaks; ok is false for them, for
// the caller to log.
func asAPIError(err error) (e *apiError, ok bool) {
	if errors.As(err, &e) {
		return e, true
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
			"the request body is larger than %d bytes", tooLarge.Limit), true
	case errors.Is(err, crmhub.ErrNotFound):
		return errorf(http.StatusNotFound, CodeNotFound, "%v", err), true
	case errors.Is(err, crmhub.ErrConflict):
		return errorf(http.StatusConflict, CodeConflict, "%v", err), true
	case errors.Is(err, crmhub.ErrInvalid):
		return errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "%v", err), true
	}
	return errorf(http.StatusInternalServerError, CodeInternal, "internal error"), false
}

// writeError answers with e in the error shape.
func writeError(w http.ResponseWriter, e *apiError) {
	var body errorBody
	body.Error.Code, body.Error.Message, body.Error.Details = e.code, e.message, e.details
	writeJSON(w, e.status, body)
}

// writeJSON answers with v as JSON. API responses hold personal data:
// nothing on the way may cache them.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a bug gets here (a value JSON cannot encode).
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"` + CodeInternal + `","message":"internal error"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
