package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/wmtna/referrals/internal/pipeline"
)

// maxBody bounds every request body: a referral is a few kilobytes.
const maxBody = 64 << 10

// apiError is the body of every error response: a stable code, a sentence
// for people, the offending field when there is one, and on a 409 about the
// wrong state the referral's current status.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Current string `json:"current_status,omitempty"`
}

// Errors the API itself answers, before a use case is asked. Their
// outcomes are HTTP statuses.
func requestError(status int, code, field, format string, args ...any) *pipeline.Error {
	return &pipeline.Error{Outcome: pipeline.Outcome(status), Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

func badParameter(field, format string, args ...any) *pipeline.Error {
	return requestError(http.StatusBadRequest, "invalid_parameter", field, format, args...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // JSON for programs: "A&E", not "A\u0026E"
	_ = enc.Encode(v)
}

// writeError answers err: a use case's refusal as its outcome, anything
// else (which the use case logged) as 503.
func writeError(w http.ResponseWriter, err error) {
	e := pipeline.AsError(err)
	if e.Outcome == pipeline.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wmtna"`)
	}
	writeJSON(w, int(e.Outcome), map[string]apiError{"error": {Code: e.Code, Message: e.Message, Field: e.Field, Current: string(e.Current)}})
}

// decode reads a JSON body strictly into dst: the right content type, one
// object, no unknown fields, no key twice in an object, field names in
// exactly their case, no more than maxBody bytes. Its errors name the
// field at fault where the decoder knows it.
func decode(w http.ResponseWriter, r *http.Request, dst any) *pipeline.Error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return requestError(http.StatusUnsupportedMediaType, "unsupported_media_type", "", "send the body as application/json")
	}
	// Read once, walked twice: checkKeys refuses the duplicate and
	// wrongly-cased keys that the decoder would take.
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return decodeError(err)
	}
	if e := checkKeys(json.NewDecoder(bytes.NewReader(raw)), reflect.TypeOf(dst)); e != nil {
		return e
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return requestError(http.StatusBadRequest, "malformed_json", "", "the body must be a single JSON object")
	}
	return nil
}

func decodeError(err error) *pipeline.Error {
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &tooBig):
		return requestError(http.StatusRequestEntityTooLarge, "body_too_large", "", "the body is larger than %d bytes", maxBody)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		return requestError(http.StatusUnprocessableEntity, "invalid_field", field,
			"%s must be a %s, not a %s", orWord(field, "the body"), jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return requestError(http.StatusBadRequest, "malformed_json", "", "the body is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return requestError(http.StatusUnprocessableEntity, "unknown_field", field, "%s is not a field of this request", field)
	}
	return requestError(http.StatusBadRequest, "malformed_json", "", "the body could not be read as JSON")
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
