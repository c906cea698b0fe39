package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/wmtna/referrals/internal/referral"
)

// Outcome is what became of a request. Outcomes are numbered as the HTTP
// statuses the API answers with: the audit log has recorded those numbers
// since it began, and records the same whichever front end a person used.
type Outcome int

const (
	OK              Outcome = 200
	Created         Outcome = 201
	Accepted        Outcome = 202
	Malformed       Outcome = 400 // the request could not be read
	Unauthenticated Outcome = 401
	Forbidden       Outcome = 403
	NotFound        Outcome = 404
	Conflict        Outcome = 409 // not possible in the referral's current state
	Invalid         Outcome = 422 // a field is wrong
	TooMany         Outcome = 429
	Cancelled       Outcome = 499 // the caller went away
	Unavailable     Outcome = 503
)

// Error is why a use case refused a request: its outcome, a stable code, a
// sentence for people, the field at fault when there is one, and on a
// conflict the referral's current status.
type Error struct {
	Outcome Outcome
	Code    string
	Message string
	Field   string
	Current referral.Status
}

func (e *Error) Error() string { return e.Message }

// FieldError refuses one field of a request.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Outcome: Invalid, Code: "invalid_field", Field: field, Message: fmt.Sprintf(format, args...)}
}

var (
	ErrUnauthenticated = &Error{Outcome: Unauthenticated, Code: "unauthenticated", Message: "a valid bearer token is required"}
	ErrForbidden       = &Error{Outcome: Forbidden, Code: "forbidden", Message: "your token does not allow this"}
	ErrNotFound        = &Error{Outcome: NotFound, Code: "not_found", Message: "no such resource"}
	ErrUnavailable     = &Error{Outcome: Unavailable, Code: "unavailable", Message: "the service is temporarily unavailable; please retry"}
	ErrTooMany         = &Error{Outcome: TooMany, Code: "rate_limited", Message: "too many requests from your address; please wait a minute"}
)

// AsError returns err as an *Error: itself if it is one, NotFound for the
// store's not-found, Cancelled when the caller went away, and Unavailable
// for anything else (which the use case has logged).
func AsError(err error) *Error {
	var e *Error
	var ps Problems
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ps) && len(ps) > 0:
		return ps[0]
	case errors.As(err, &e):
		return e
	case errors.Is(err, referral.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, context.Canceled):
		return &Error{Outcome: Cancelled, Code: "cancelled", Message: "request cancelled"}
	}
	return ErrUnavailable
}

// OutcomeOf is the outcome of a use case that returned err, succeeding
// with ok.
func OutcomeOf(err error, ok Outcome) Outcome {
	if err == nil {
		return ok
	}
	return AsError(err).Outcome
}
