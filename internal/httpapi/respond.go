package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// maxBody bounds every request body: a referral is a few kilobytes.
const maxBody = 64 << 10

// apiError is the body of every error response: a stable code, a sentence
// for people, and the offending field when there is one.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// Current is the referral's status, on 409s about the wrong state.
	Current string `json:"current_status,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func badField(field, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusUnprocessableEntity, Code: "invalid_field", Field: field, Message: fmt.Sprintf(format, args...)}
}

var (
	errUnauthenticated = &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "a valid bearer token is required"}
	errForbidden       = &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: "your token does not allow this"}
	errNotFound        = &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such resource"}
	errUnavailable     = &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the service is temporarily unavailable; please retry"}
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // JSON for programs: "A&E", not "A\u0026E"
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wmtna"`)
	}
	writeJSON(w, e.Status, map[string]*apiError{"error": e})
}

// decode reads a JSON body strictly into dst: the right content type, one
// object, no unknown fields, no more than maxBody bytes. Its errors name the
// field at fault where the decoder knows it.
func decode(w http.ResponseWriter, r *http.Request, dst any) *apiError {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "send the body as application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return &apiError{Status: http.StatusBadRequest, Code: "malformed_json", Message: "the body must be a single JSON object"}
	}
	return nil
}

func decodeError(err error) *apiError {
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &tooBig):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: fmt.Sprintf("the body is larger than %d bytes", maxBody)}
	case errors.As(err, &typeErr):
		field := typeErr.Field
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "invalid_field", Field: field,
			Message: fmt.Sprintf("%s must be a %s, not a %s", orWord(field, "the body"), jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &apiError{Status: http.StatusBadRequest, Code: "malformed_json", Message: "the body is not valid JSON"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "unknown_field", Field: field, Message: fmt.Sprintf("%s is not a field of this request", field)}
	}
	return &apiError{Status: http.StatusBadRequest, Code: "malformed_json", Message: "the body could not be read as JSON"}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int64", "float64":
		return "number"
	case "slice":
		return "list"
	case "struct", "map", "ptr":
		return "object"
	}
	return goKind
}

func orWord(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
